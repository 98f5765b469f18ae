"""What a reviewer reads in TensorBoard, read back with TensorBoard's own event reader and the hparams plugin's
metadata parsers: a gap per epoch, final metrics equal to the record, the session's end, named tags, no paths."""

import dataclasses
import glob
import json
import os
import sys

import numpy as np
import pytest
from conftest import REPO, Events, interrupted_run, tiny_config, tiny_raw
from tensorboard.plugins.hparams import api_pb2
from tensorboard.util import tensor_util

from rethink_tf import callbacks, environment, records, summaries, train
from rethink_tf.experiments import table1

sys.path.insert(0, os.path.join(REPO, "tools"))
import tensorboard_screenshots  # noqa: E402  (a script in tools/, imported for its functions)

# The experiment's own fields the HParams table lists, by column name, and what must never be one.
LISTED = {
    "model",
    "batch norm",
    "corruption",
    "p (label or input noise)",
    "test labels corrupted",
    "random crop",
    "augment",
    "weight decay",
    "learning rate",
    "batch size",
    "seed",
    "dataset",
    "train size (0: all)",
    "compute environment",
}
NEVER = ("data_dir", "idx_dir", "cifar_archive", "results_dir", "cpu_devices", "bn_momentum", "preset", "None")


def event_dirs(results_dir):
    return sorted({os.path.dirname(p) for p in glob.glob(os.path.join(results_dir, "**", "events.*"), recursive=True)})


def test_a_partly_corrupted_run_reviews_in_tensorboard(tmp_path):
    cfg = tiny_config(tmp_path, corrupt=0.5, epochs=3)
    record = train.run(cfg, raw=tiny_raw())
    assert event_dirs(tmp_path) == [cfg.run_dir]  # one TensorBoard run per run, named as the run: no empty runs
    events = Events(cfg.run_dir)

    # A gap point at every epoch, equal to the record's.
    epochs = [row["epoch"] for row in record["epochs"]]
    gap = events.series(summaries.EPOCH_TAGS["generalization_gap"][0])
    assert [step for step, _ in gap] == epochs == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in gap], [row["generalization_gap"] for row in record["epochs"]], rtol=1e-6)
    # Named for what they are, each once; nothing called validation, no evaluation_*_vs_iterations copies.
    assert not [tag for tag in events.tags if "validation" in tag or "evaluation" in tag or tag.startswith("epoch_")]
    for key in ("accuracy", "val_accuracy", "loss", "val_loss", "learning_rate"):
        assert [step for step, _ in events.series(summaries.EPOCH_TAGS[key][0])] == epochs
    assert sorted(summaries.EPOCH_TAGS[k][0].split("/")[0] for k in ("generalization_gap", "accuracy"))[0] == "1_gap"

    # Clean and corrupted apart, per epoch and final, in the record and in TensorBoard.
    changed = record["data"]["train_labels_changed"]
    assert 0.2 < changed < 0.55  # p = 0.5 over 4 classes changes 3/8 on average
    for key in ("train_kept_accuracy", "train_changed_accuracy", "train_changed_true_accuracy"):
        assert all(0.0 <= row[key] <= 1.0 for row in record["epochs"])
        assert [step for step, _ in events.series(summaries.EPOCH_TAGS[key][0])] == epochs
    final = record["final"]
    assert final["train_accuracy"] == pytest.approx(
        (1 - changed) * final["train_kept_accuracy"] + changed * final["train_changed_accuracy"]
    )

    # Declared metrics whose values are the record's finals; the session's end says it finished.
    declared = {m.name.tag: m.display_name for m in events.experiment().metric_infos}
    assert {"train accuracy", "test accuracy", "gap", "epochs to fit", "steps to fit"} <= set(declared.values())
    written = summaries.final_values(record)
    for key in ("train_accuracy", "test_accuracy", "generalization_gap", "train_changed_accuracy"):
        tag = summaries.FINAL_METRICS[key][0]
        assert tag in declared and events.series(tag) == [(3, pytest.approx(final[key], rel=1e-6))]
    assert events.series(summaries.FINAL_METRICS["labels_changed"][0])[0][1] == pytest.approx(changed)
    assert set(written) >= {"train_accuracy", "test_accuracy", "generalization_gap", "epochs_run"}
    assert events.session_end().status == api_pb2.STATUS_SUCCESS

    # The experiment's own fields, readable, no paths or placement; p is the label noise.
    names = {h.name: h.display_name for h in events.experiment().hparam_infos}
    assert set(names.values()) == LISTED
    start = events.session_start()
    values = {names[k]: v for k, v in start.hparams.items()}
    assert set(values) == LISTED
    assert values["model"].string_value == "mlp_1x512" and values["p (label or input noise)"].number_value == 0.5
    assert values["compute environment"].string_value == environment.label(record["environment"])  # filterable
    assert not [k for k in list(names) + list(values) if any(bad in k for bad in NEVER)]
    assert not [v for v in values.values() if v.string_value == "None"]
    assert start.group_name == summaries.trial_id(cfg) and start.group_name.startswith("p=0.5 s0 MLP1x512 ")


def test_a_resumed_run_logs_each_epoch_once(tmp_path, monkeypatch):
    cfg = interrupted_run(tiny_config(tmp_path), monkeypatch)
    assert Events(cfg.run_dir).session_end().status == api_pb2.STATUS_UNKNOWN  # interrupted: no success or failure

    record = train.run(cfg, raw=tiny_raw())
    scalars = glob.glob(os.path.join(cfg.run_dir, records.EVENTS + "*[0-9]"))  # the ledger's tab has its own file
    assert len(scalars) == 1 and len(glob.glob(os.path.join(cfg.run_dir, records.EVENTS + "*"))) == 2
    events = Events(cfg.run_dir)
    assert [s for s, _ in events.series(summaries.EPOCH_TAGS["loss"][0])] == [1, 2, 3, 4]
    np.testing.assert_allclose(
        [v for _, v in events.series(summaries.EPOCH_TAGS["loss"][0])], [row["loss"] for row in record["epochs"]]
    )
    assert events.session_end().status == api_pb2.STATUS_SUCCESS


def test_diverged_and_failed_runs_end_their_session_as_failures(tmp_path, monkeypatch):
    diverged = tiny_config(tmp_path / "diverged", learning_rate=1e12, epochs=2)
    assert train.run(diverged, raw=tiny_raw())["status"] == records.DIVERGED
    events = Events(diverged.run_dir)
    assert events.session_end().status == api_pb2.STATUS_FAILURE
    assert not [tag for tag in events.tags if tag.startswith(summaries.FINAL)]  # no final numbers to compare

    def fail(self, epoch, logs=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(callbacks.GeneralizationGap, "on_epoch_end", fail)
    failed = tiny_config(tmp_path / "failed", epochs=2)
    with pytest.raises(RuntimeError, match="disk full"):
        train.run(failed, raw=tiny_raw())
    events = Events(failed.run_dir)
    assert events.session_end().status == api_pb2.STATUS_FAILURE
    (status,) = events.acc.Tensors("status")
    assert tensor_util.make_ndarray(status.tensor_proto).item().decode() == "failed: RuntimeError: disk full"


def test_table1_trial_ids_tell_its_rows_apart_in_14_characters(tmp_path):
    configs = [cfg for _, cfg in table1.grid(tiny_config(tmp_path), 3, ("inception_small_nobn",))]
    ids = [summaries.trial_id(cfg) for cfg in configs]
    assert len(configs) == 27 and len({i[:14] for i in ids}) == 27, ids  # the HParams table shows about 14
    # Runs that differ in a field the visible part leaves out still get rows of their own (the plugin averages
    # the runs of one trial ID).
    other_lr = summaries.trial_id(dataclasses.replace(configs[0], learning_rate=0.1))
    assert other_lr[:14] == ids[0][:14] and other_lr != ids[0]


def test_label_split_accuracies():
    labels = np.array([0, 1, 2, 3, 0, 1])
    true = np.array([0, 1, 2, 0, 1, 1])  # examples 3 and 4 changed
    predicted = np.array([0, 1, 0, 3, 1, 1])
    split = callbacks.label_split_accuracies(predicted, labels, true)
    assert split == {"train_kept_accuracy": 0.75, "train_changed_accuracy": 0.5, "train_changed_true_accuracy": 0.5}


def test_tensorboards_hparams_table_has_one_row_per_run_with_the_records_finals(tmp_path):
    raw = tiny_raw()
    for cfg in (
        tiny_config(tmp_path, epochs=2, measures=True),
        tiny_config(tmp_path, epochs=2, corruption="random_labels"),
    ):
        train.run(cfg, raw=raw)
    with tensorboard_screenshots.serve(str(tmp_path)) as (url, runs):
        assert len(runs) == 2
        rows = tensorboard_screenshots.hparams_rows(url)
        assert len(rows) == 2 and tensorboard_screenshots.check_against_records(rows, str(tmp_path)) == []
        statuses = {session["status"] for row in rows for session in row["sessions"]}
        assert statuses == {"STATUS_SUCCESS"}
    # The check can fail: a record whose final differs from what TensorBoard shows is named.
    path = os.path.join(cfg.run_dir, records.RECORD)
    record = json.load(open(path))
    record["final"]["test_accuracy"] += 0.5
    json.dump(record, open(path, "w"))
    (problem,) = tensorboard_screenshots.check_against_records(rows, str(tmp_path))
    assert "test_accuracy" in problem and os.path.basename(cfg.run_dir) in problem
    # The measures of the first run are metrics of its row, checked the same way.
    measured = [d for d in event_dirs(str(tmp_path)) if records.read_record(d).get("measures")]
    assert len(measured) == 1
    path = os.path.join(measured[0], records.RECORD)
    record = json.load(open(path))
    record["measures"]["values"]["log_path_norm"] += 1.0
    json.dump(record, open(path, "w"))
    problems = tensorboard_screenshots.check_against_records(rows, str(tmp_path))
    assert any("log_path_norm" in p and os.path.basename(measured[0]) in p for p in problems)
    # An infinite measure (an over-margin one of a run misclassifying over 10% of its set) comes as "Infinity".
    record["measures"]["values"]["log_path_norm"] = float("inf")
    json.dump(record, open(path, "w"))
    tag = summaries.MEASURE_METRICS["log_path_norm"][0]
    for session in (s for row in rows for s in row["sessions"] if s["name"] == os.path.relpath(measured[0], tmp_path)):
        (value,) = [v for v in session["metricValues"] if v["name"]["tag"] == tag]
        value["value"] = "Infinity"
    assert tensorboard_screenshots.check_against_records(rows, str(tmp_path)) == [problem]  # the final's, above
