"""The typed run record: its derived facts, and records written by rethink_tf 0.5 (format 1) still load, report
and resume through run_record.upgrade."""

import dataclasses
import json
import os
import shutil

import pytest
from conftest import REPO, final_and_losses, tiny_config, tiny_raw

from rethink_tf import environment, records, run_record, train
from rethink_tf.experiments import table1

RECORDS_05 = os.path.join(REPO, "tests", "data", "records_0.5")


@pytest.fixture
def results_05(tmp_path):
    """A copy of the 0.5 run directories (a resume writes into it)."""
    shutil.copytree(RECORDS_05, tmp_path / "results", ignore=shutil.ignore_patterns("*.md"))
    return tmp_path / "results"


def test_records_of_0_5_load_upgraded_with_their_derived_facts(results_05):
    finished, interrupted = records.load_all(str(results_05))
    for record in (finished, interrupted):
        assert isinstance(record, run_record.RunRecord) and record["format"] == run_record.FORMAT
        assert set(record["config"]) == {f.name for f in dataclasses.fields(type(record.config))}
    assert finished.finished and finished.done and not interrupted.done
    assert finished.config.model == "mlp_1x512" and finished.label_noise == 0.0 and finished.version == "0.5.0"
    assert finished.steps_per_epoch == 3  # 96 training images, batch 32
    assert finished.final.test_accuracy == finished["final"]["test_accuracy"]
    assert finished.fit_epoch == finished["final"]["fit_epoch"]
    assert finished.steps_to_fit == (finished.fit_epoch * 3 if finished.fit_epoch else None)
    assert finished.param_count == 8 * 8 * 1 * 512 + 512 + 512 * 4 + 4
    # The file on disk is untouched until its run saves it again.
    with open(results_05 / "finished" / records.RECORD) as f:
        assert json.load(f)["format"] == 1


def test_upgrade_tags_the_trials_of_tune_that_0_5_told_apart_by_name():
    def old(run_name):
        return {"format": 1, "status": "finished", "run_name": run_name, "config": {"model": "mlp_1x512"}}

    trial = run_record.upgrade(old("mlp_1x512-fashion_mnist-true_labels-seed0-lr0.0123-bs32-bnm0.9"))
    plain = run_record.upgrade(old("mlp_1x512-fashion_mnist-true_labels-seed0"))
    assert trial.config.tag == run_record.TUNE_TAG and plain.config.tag == ""
    assert plain.config.batch_size == 128  # a field the old record lacks: its default, as 0.5 ran it


def test_a_record_of_an_unknown_format_is_one_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / records.RECORD).write_text(json.dumps({"format": 99, "status": "finished"}))
    with pytest.raises(records.RunDirError, match="has format 99; this rethink_tf reads formats 1 to"):
        records.read_record(str(run_dir))


def test_a_report_reads_records_of_0_5(results_05):
    text = table1.report(str(results_05))
    finished = records.read_record(str(results_05 / "finished"))
    train_acc, test_acc = (100 * finished["final"][k] for k in ("train_accuracy", "test_accuracy"))
    assert f"| MLP 1x512, none | {finished.param_count:,} | 100.00 | 50.51 | {train_acc:.2f} | {test_acc:.2f} |" in text


def test_an_interrupted_run_of_0_5_resumes_to_the_bits_of_a_run_never_stopped(results_05, tmp_path):
    cut = records.read_record(str(results_05 / "interrupted"))
    assert cut.status == records.INTERRUPTED and len(cut.epochs) == 2
    same_machine = not environment.differences(cut["environment"], environment.read())
    config = dataclasses.replace(cut.config, results_dir=str(results_05), allow_mixed_environment=True)
    resumed = train.run(config, raw=tiny_raw())
    assert resumed.finished and len(resumed.epochs) == 4 and resumed["resumed"]
    assert resumed["format"] == run_record.FORMAT  # saved again: in today's shape
    whole = train.run(tiny_config(tmp_path / "whole", rgb=False), raw=tiny_raw())
    if same_machine:  # another CPU's kernels give other bits (docs/determinism.md): then only close
        assert final_and_losses(resumed) == final_and_losses(whole)
    else:
        assert resumed["resumed_in"]
        assert resumed.final.test_accuracy == pytest.approx(whole.final.test_accuracy, abs=0.05)
