"""rethink_tf.experiments.tune: a keras-tuner search whose every trial is a regular run, continued, not repeated."""

import glob
import json
import os

from conftest import cli_in_process, experiment_in_process, module_cli, needs_data, one_line_exit

from rethink_tf import config as config_lib
from rethink_tf import records, report, run_record
from rethink_tf.experiments import tune

SMOKE = ["--preset=smoke", "--model=mlp_1x512", "--train_size=64", "--test_size=64", "--epochs=2"]


def tune_cli(results_dir, *flags):
    return module_cli("rethink_tf.experiments.tune", results_dir, *SMOKE, *flags)


@needs_data
def test_a_smoke_search_trains_each_trial_as_a_run_and_a_second_start_trains_nothing(tmp_path, monkeypatch, capsys):
    first = tune_cli(tmp_path, "--max_trials=3", "--batch_sizes=16", "--batch_sizes=32")
    assert first.returncode == 0, first.stderr[-3000:]
    recs = [json.load(open(p)) for p in glob.glob(os.path.join(str(tmp_path), "*", records.RECORD))]
    assert len(recs) == 3 and all(r["status"] == records.FINISHED for r in recs)
    for r in recs:  # each trial a regular run, named for its values, inside the searched space
        c = r["config"]
        assert 0.001 <= c["learning_rate"] <= 0.3 and c["batch_size"] in (16, 32) and c["tag"] == "tune"
        assert r["run_name"].endswith(f"-lr{c['learning_rate']:g}-bs{c['batch_size']}-bnm{c['bn_momentum']:g}")
    assert os.path.isdir(tmp_path / tune.KERAS_TUNER_DIR)  # the oracle's state, beside the runs
    best = max(recs, key=lambda r: r["final"]["test_accuracy"])
    table = open(tmp_path / "tune.md").read()
    assert table.count("| MLP 1x512 |") == 3 and "3 trials" in table
    first_row = table.splitlines()[2]
    assert f"| {best['config']['learning_rate']:g} | {best['config']['batch_size']} |" in first_row  # best first

    assert " epoch 1/2 " in first.stdout
    # The same command's work again, in this process: the search is reloaded, its trials not trained again.
    again = experiment_in_process(
        tune.EXPERIMENT, *SMOKE, "--max_trials=3", "--batch_sizes=16", "--batch_sizes=32", f"--results_dir={tmp_path}"
    )
    assert " epoch 1/2 " not in capsys.readouterr().out and again.strip() in first.stdout
    assert open(tmp_path / "tune.md").read() == table
    # An experiment like the others: its report from the records alone (the report's parser and main, in process).
    status, out, err = cli_in_process(monkeypatch, capsys, report.main, "tune", str(tmp_path))
    assert status == 0 and "3 trials" in out, err[-3000:]


def test_the_objective_is_test_accuracy_for_true_labels_and_steps_to_fit_for_random_ones():
    def record(corruption, fit_epoch, test_accuracy=0.5):
        return run_record.RunRecord(
            config={"corruption": corruption, "corrupt": 0.0, "batch_size": 32},
            data={"train_examples": 400},
            epoch_budget={"max_epochs": 150},
            final={"test_accuracy": test_accuracy, "fit_epoch": fit_epoch},
        )

    assert tune.objective(record("true_labels", 7, 0.8)) == 0.8
    assert tune.objective(record("random_labels", 20)) == 13 * 20  # 400 images in batches of 32: 13 steps
    assert tune.objective(record("random_labels", None)) == 13 * 151  # never fit: past every run that fits


@needs_data
def test_a_search_space_of_one_learning_rate_is_refused_in_one_line(tmp_path, capsys):
    # Its work inside one_line_errors, as the entry point runs it, in this process.
    status, err = one_line_exit(
        capsys,
        lambda: experiment_in_process(tune.EXPERIMENT, *SMOKE, "--learning_rates=0.01", f"--results_dir={tmp_path}"),
    )
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "--learning_rates=0.01 is not allowed: the lowest and the highest learning rate" in err
    assert not glob.glob(os.path.join(str(tmp_path), "*"))


def test_the_same_flags_propose_the_same_trials(tmp_path):
    import keras_tuner

    def proposals(seed, where):
        base = config_lib.RunConfig(model="inception_small", seed=seed)
        hp = tune._space(base, (0.001, 0.3), (32, 64, 128), (0.9, 0.99))
        oracle = tune.make_oracle(base, keras_tuner.Objective("test_accuracy", "max"), "bayesian", 8, hp)
        oracle._set_project_dir(str(tmp_path / where), "search")  # what keras-tuner's tuner does with it
        values = []
        for _ in range(3):
            trial = oracle.create_trial("tuner0")
            values.append(dict(trial.hyperparameters.values))
            oracle.update_trial(trial.trial_id, {"test_accuracy": 0.5})
            oracle.end_trial(trial)
        return values

    assert proposals(0, "a") == proposals(0, "b")  # seed 0 too: keras-tuner reads 0 as "draw a seed"
    assert proposals(0, "c") != proposals(1, "d")
