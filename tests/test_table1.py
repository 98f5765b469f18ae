"""The smoke Table 1 grid end to end on Fashion-MNIST: interrupted, continued, reported."""

import csv
import dataclasses
import os

import preset_flags
import pytest
from conftest import fake_record, needs_data, smoke_base

from rethink_tf import callbacks, cli, paper, records
from rethink_tf.experiments import runner, table1


def test_grid_has_the_papers_19_rows_with_their_regularizers(tmp_path):
    rows = table1.grid(smoke_base(tmp_path))
    assert len(rows) == 19 and len({cfg.run_dir for _, cfg in rows}) == 19
    for row, cfg in rows:
        assert cfg.random_crop == row.random_crop and (cfg.weight_decay > 0) == row.weight_decay
        assert cfg.corruption == ("random_labels" if row.random_labels else "true_labels")
        assert cfg.learning_rate == (0.1 if row.model == "inception_small" else 0.01)
        assert table1.matches(row, cfg) and sum(table1.matches(r, cfg) for r in paper.TABLE1) == 1


def test_grid_learning_rate_and_epoch_caps_from_the_preset(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), epochs=30, crop_epochs=5, random_label_epochs=40)
    rows = table1.grid(dataclasses.replace(base, learning_rate=0.02))
    assert {cfg.learning_rate for _, cfg in rows} == {0.02}
    assert {cfg.max_epochs for row, cfg in rows if row.random_crop} == {5}
    assert {cfg.max_epochs for row, cfg in rows if row.random_labels} == {40}
    assert {cfg.max_epochs for row, cfg in rows if not (row.random_crop or row.random_labels)} == {30}


def test_random_label_rows_run_with_several_seeds(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), seed=4)
    runs = table1.grid(base, random_label_seeds=3)
    assert len(runs) == 19 + 5 * 2 and len({cfg.run_dir for _, cfg in runs}) == len(runs)
    assert [row for row, _ in runs] == sorted((row for row, _ in runs), key=paper.TABLE1.index)
    for row in paper.TABLE1:
        seeds = [cfg.seed for r, cfg in runs if r == row]
        assert seeds == ([4, 5, 6] if row.random_labels else [4])
    runs = table1.grid(base, random_label_seeds=3, single_seed_models=("inception_small_nobn",))
    assert len(runs) == 19 + 4 * 2
    assert [cfg.seed for _, cfg in runs if not cfg.batch_norm and cfg.corruption == "random_labels"] == [4]


def test_laptop_preset_grid_is_27_runs():
    values = preset_flags.parsed("--preset=laptop", options=table1.Options)
    runs = table1.grid(cli.from_flags(values), **dataclasses.asdict(cli.options(table1.Options, values)))
    assert len(runs) == 19 + 4 * 2  # 3 seeds per random-label row, Inception w/o BatchNorm's once
    assert {cfg.max_epochs for _, cfg in runs if cfg.corruption == "random_labels"} == {150}


# The grid's first row (Inception with crop and weight decay) and its last two (MLP 1x512, true and random labels)
# train for real; the other sixteen are finished records (their models train in tests/test_ray.py's grid).
REAL = (0, 17, 18)


@needs_data
def test_smoke_grid_continues_after_interruption_and_reports(tmp_path, monkeypatch):
    base = dataclasses.replace(smoke_base(tmp_path), crop_size=12, train_size=64, test_size=64)
    labelled = table1.labelled_runs(base)
    for i, (_, cfg) in enumerate(labelled):
        if i not in REAL:
            accuracy = 0.1 if cfg.corruption == "random_labels" else 0.8
            fake_record(cfg, 2, accuracy, data={"origin": "test"}, final={"train_accuracy": 1.0}, wall_time_s=5.0)
    original = callbacks.RunRecordWriter.on_epoch_end
    calls = []

    def interrupt_third_run(self, epoch, logs=None):
        calls.append(self.record["run_name"])
        if len({*calls}) == 3 and epoch == 1:
            raise KeyboardInterrupt
        original(self, epoch, logs)

    monkeypatch.setattr(callbacks.RunRecordWriter, "on_epoch_end", interrupt_third_run)
    with pytest.raises(KeyboardInterrupt):
        runner.train_all(labelled)
    monkeypatch.setattr(callbacks.RunRecordWriter, "on_epoch_end", original)

    first_two = [records.read_record(labelled[i][1].run_dir) for i in REAL[:2]]
    third = records.read_record(labelled[REAL[2]][1].run_dir)
    assert [r["status"] for r in first_two] == [records.FINISHED] * 2
    assert third["status"] == records.INTERRUPTED and len(third["epochs"]) == 1

    out = runner.train_all(labelled)
    assert [r["status"] for r in out] == [records.FINISHED] * 19
    assert [out[i]["started"] for i in REAL[:2]] == [r["started"] for r in first_two]  # not trained again
    assert "resumed" in out[REAL[2]] and [e["epoch"] for e in out[REAL[2]]["epochs"]] == [1, 2]

    text = table1.report(str(tmp_path))
    assert "preset `smoke`" in text and "| Inception, crop+wd | 1,649,402 | 100.00 | 89.05 |" in text
    assert "| 0.1 |" in text and "| 0.01 |" in text  # each row's learning rate
    with open(tmp_path / "table1.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["row"] for r in table] == [row.label for row in paper.TABLE1]
    assert all(r["status"] == "finished" and r["runs"] == "1" and 0 <= float(r["test"]) <= 100 for r in table)
    claims = dict(table1.claims(table1.rows(records.load_all(str(tmp_path)))))
    assert set(claims.values()) <= {True, False}  # every row has a result, so every claim is decided


def test_report_of_partial_results_leaves_claims_open(tmp_path):
    for _, cfg in table1.grid(smoke_base(tmp_path), random_label_seeds=2)[-2:]:  # MLP 1x512 random labels, 2 seeds
        os.makedirs(cfg.run_dir)
        record = records.new_record(cfg)
        record.update(
            status=records.FINISHED,
            model={"param_count": 1209866},
            data={"origin": "test"},
            final={"train_accuracy": 1.0, "test_accuracy": 0.1 - 0.02 * cfg.seed, "epochs_run": 3},
            wall_time_s=5.0,
        )
        records.write_json(os.path.join(cfg.run_dir, records.RECORD), record)
    text = table1.report(str(tmp_path))
    assert (
        "| MLP 1x512, random labels | 1,209,866 | 99.34 | 10.61 | 100.00 | 9.00 (8.00–10.00) | 2 | 0.01 | 3 | 10 "
        "| finished |"
    ) in text
    assert "| Inception, none | – |" in text and "missing" in text
    assert "(not every row has run)" in text
