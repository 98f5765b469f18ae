"""Figures 1 and 2 and Table 4: their grids, the series drawn from records, and the smoke presets end to end."""

import csv
import dataclasses
import math
import os
import subprocess
import sys

import preset_flags
import pytest
from conftest import REPO, cli_in_process, experiment_in_process, fake_record, needs_data, one_line_exit, smoke_base

from rethink_tf import paper, plots, records, report
from rethink_tf.experiments import figure1, figure2, table1, table4


def laptop_base():
    return preset_flags.base_config("--preset=laptop")


def test_figure1_grid_shares_table1s_runs_and_gives_randomized_data_the_random_label_budget():
    base = laptop_base()
    base = dataclasses.replace(base, learning_rate=0.01)
    runs = figure1.grid(base)
    assert len(runs) == 5 + 3 * 11 - 2 and len({cfg.run_dir for _, cfg in runs}) == len(runs)
    table1_dirs = {cfg.run_dir for _, cfg in table1.grid(base)}
    shared = {cfg.run_dir for _, cfg in runs} & table1_dirs
    assert len(shared) == 6  # true and random labels of Inception, AlexNet and MLP 1x512
    for _, cfg in runs:
        randomized = cfg.corruption != "true_labels" or cfg.corrupt > 0
        assert cfg.max_epochs == (150 if randomized else 60) and cfg.stop_when_fit and cfg.weight_decay == 0
    assert figure1.run_config(base, "mlp_1x512", p=1.0).corruption == "random_labels"


def test_figure1_series_time_to_overfit_is_relative_to_p0(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), batch_size=32, stop_when_fit=True)
    levels = (0.0, 0.5, 1.0)
    for model, fits in (("inception_small", (10, 20, 36)), ("alexnet_small", (4, 6, None)), ("mlp_1x512", (5, 5, 10))):
        for p, fit in zip(levels, fits):
            fake_record(figure1.run_config(base, model, p=p), fit, 0.9 - 0.8 * p)
    rows = figure1.series(records.load_all(base.results_dir))
    b = {(name, x): y for panel, name, x, y in rows if panel == "b"}
    assert b[("inception_small", 0.5)] == 2.0 and b[("inception_small", 1.0)] == 3.6
    assert math.isnan(b[("alexnet_small", 1.0)]) and b[("mlp_1x512", 1.0)] == 2.0
    c = {(name, x): y for panel, name, x, y in rows if panel == "c"}
    assert c[("alexnet_small", 0.5)] == pytest.approx(0.5)
    a = [(x, y) for panel, name, x, y in rows if panel == "a" and name == "random_labels"]
    assert [x for x, _ in a] == [4 * e for e in range(1, 37)]  # steps: 100 examples in batches of 32
    assert {name for panel, name, *_ in rows if panel == "a"} == {
        "true_labels",
        "true_labels accuracy",
        "random_labels",
        "random_labels accuracy",
    }
    assert "| 1 | 3.60x / 0.900 | not fitted / 0.900 | 2.00x / 0.900 |" in figure1.report(base.results_dir)
    assert os.path.getsize(os.path.join(base.results_dir, "figure1.png")) > 10_000


def test_figure1_series_has_the_kept_and_changed_label_accuracies_of_records_that_hold_them(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), batch_size=32, stop_when_fit=True)
    fake_record(figure1.run_config(base, "mlp_1x512", p=0.0), 5, 0.9)
    cfg = figure1.run_config(base, "mlp_1x512", p=0.5)
    fake_record(cfg, 9, 0.5)
    record = records.read_record(cfg.run_dir)
    record["final"].update(train_kept_accuracy=1.0, train_changed_accuracy=0.75, train_changed_true_accuracy=0.125)
    records.save(cfg, record)
    fake_record(figure1.run_config(base, "alexnet_small", p=0.5), 9, 0.5)  # a 0.3 record: without them
    d = {(name, x): y for panel, name, x, y in figure1.series(records.load_all(base.results_dir)) if panel == "d"}
    assert d == {
        ("mlp_1x512 kept", 0.5): 1.0,
        ("mlp_1x512 changed", 0.5): 0.75,
        ("mlp_1x512 changed vs true", 0.5): 0.125,
    }


def test_figure2_tests_every_epoch_on_at_least_1000_images_within_the_test_split():
    base = laptop_base()
    assert base.curve_test_size == 200 and base.eval_every == 1  # the preset's cheap gap point per epoch
    cfg = figure2.run_config(base, True)
    assert (cfg.curve_test_size, cfg.eval_every) == (1000, 1)  # the laptop Figure 2 runs of 0.3, unchanged
    for test_size, curve, expected in ((0, 0, 0), (0, 5000, 5000), (500, 200, 0), (2000, 200, 1000)):
        shaped = dataclasses.replace(base, test_size=test_size, curve_test_size=curve)
        assert figure2.run_config(shaped, False).curve_test_size == expected


def test_figure2_best_test_is_the_running_maximum(tmp_path):
    base = smoke_base(tmp_path)
    tests = [0.5, 0.7, 0.6, 0.8, 0.75]
    for bn in (True, False):
        fake_record(
            figure2.run_config(base, bn),
            None,
            tests[-1],
            epochs=[{"epoch": i + 1, "accuracy": 0.2 * (i + 1), "val_accuracy": t} for i, t in enumerate(tests)],
        )
    rows = figure2.series(records.load_all(base.results_dir))
    best = [y for _, name, _, y in rows if name == "inception_small_nobn best test"]
    assert best == [0.5, 0.7, 0.7, 0.8, 0.8]
    assert {name for _, name, _, _ in rows} == {
        f"{m} {s}" for m in ("inception_small", "inception_small_nobn") for s in ("train", "test", "best test")
    }


def test_table4_rows_are_random_labels_with_one_regularizer(tmp_path):
    base = laptop_base()
    runs = table4.grid(base)
    assert len(runs) == len(paper.TABLE4) == 6
    for row, (_, cfg) in zip(paper.TABLE4, runs):
        assert cfg.corruption == "random_labels" and cfg.max_epochs == 150
        assert (cfg.weight_decay > 0, cfg.random_crop, cfg.augment) == (
            row.regularizer == "weight_decay",
            row.regularizer == "random_crop",
            row.regularizer == "augment",
        )
        assert cfg.lr_decay == (0.999 if row.regularizer != "weight_decay" else 0.95)


def run_module(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", f"rethink_tf.experiments.{module}", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )


# Smaller than the smoke preset: 12x12 crops of 64 images, so each of these runs takes a few seconds.
TINY = ("--preset=smoke", "--crop_size=12", "--train_size=64", "--test_size=64")


def finished_inception_runs(runs, fit_epoch=2):
    """Finished records (tests/conftest.fake_record) for the grid's Inception-small runs, so that the command trains
    only the others: the suite trains Inception-small in tests/test_ray.py, and its tracing is the costliest."""
    for _, cfg in runs:
        if cfg.model == "inception_small":
            fake_record(cfg, fit_epoch, 0.5, data={"train_examples": 64}, final={"train_accuracy": 1.0})


@needs_data
def test_smoke_figure1_png_and_its_series(tmp_path, capsys):
    base = preset_flags.base_config(*TINY, f"--results_dir={tmp_path}")
    finished_inception_runs(figure1.grid(base, (0.0, 1.0)))
    result = run_module("figure1", *TINY, "--corrupt_levels=0", "--corrupt_levels=1", f"--results_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert open(tmp_path / "figure1.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    rows = plots.read_series(tmp_path / "figure1.csv")
    names = {(r["panel"], r["series"]) for r in rows}
    assert {("a", c) for c in figure1.PANEL_A_CORRUPTIONS} <= names
    assert {(panel, m) for panel in "bc" for m in figure1.SWEEP_MODELS} <= names
    assert sorted(r["x"] for r in rows if r["panel"] == "c" and r["series"] == "mlp_1x512") == [0.0, 1.0]
    assert len(os.listdir(tmp_path)) == 9 + 3  # 9 runs, figure1.png/.csv/.md
    assert "epoch 1/" in result.stdout  # each run's progress lines ...
    assert not [line for line in result.stdout.splitlines() if "Inception" in line and " epoch " in line]
    # ... and none once they are finished: the same command's work again (in this process), nothing trained, the
    # report it prints the same.
    text = experiment_in_process(
        figure1.EXPERIMENT, *TINY, "--corrupt_levels=0", "--corrupt_levels=1", f"--results_dir={tmp_path}"
    )
    assert "epoch 1/" not in capsys.readouterr().out and text.strip() in result.stdout


def test_figure1_needs_p0(capsys):
    # The command's work inside one_line_errors, in this process (tests/test_ray.py's refused address is an
    # experiment's one-line error from the command line itself).
    levels = ("--corrupt_levels=0.5", "--corrupt_levels=1")
    status, err = one_line_exit(
        capsys, lambda: experiment_in_process(figure1.EXPERIMENT, *TINY, *levels, "--results_dir=/nonexistent")
    )
    assert status == 2 and len(err.strip().splitlines()) == 1 and "--corrupt_levels=0.5,1 needs 0" in err, err
    assert not os.path.exists("/nonexistent")


@needs_data
def test_smoke_figure2_and_table4(tmp_path, monkeypatch, capsys):
    # Inception with BatchNorm as a finished record with its per-epoch test points (tests/test_ray.py trains it);
    # the command trains the one without, and both curves come from their records.
    base = preset_flags.base_config(*TINY, "--epochs=3", f"--results_dir={tmp_path / 'figure2'}")
    (_, with_bn), _ = figure2.grid(base)
    curve = [{"epoch": e, "loss": 2.0 / e, "accuracy": e / 4, "val_accuracy": e / 8} for e in (1, 2, 3)]
    fake_record(with_bn, None, 0.4, epochs=curve, data={"train_examples": 64}, final={"train_accuracy": 0.75})
    result = run_module("figure2", *TINY, "--epochs=3", f"--results_dir={tmp_path / 'figure2'}")
    assert result.returncode == 0, result.stderr
    trained = [line.split("]")[0] for line in result.stdout.splitlines() if " epoch " in line]
    assert trained and set(trained) == {"[figure 2 2/2 Inception w/o BatchNorm"}, result.stdout
    rows = plots.read_series(tmp_path / "figure2" / "figure2.csv")
    from_record = [(r["x"], r["y"]) for r in rows if r["series"] == "inception_small test"]
    assert from_record == [(1, 0.125), (2, 0.25), (3, 0.375)]
    assert [r["x"] for r in rows if r["series"] == "inception_small_nobn test"] == [1.0, 2.0, 3.0]
    assert os.path.getsize(tmp_path / "figure2" / "figure2.png") > 10_000

    base = preset_flags.base_config(*TINY, "--epochs=1", f"--results_dir={tmp_path / 'table4'}")
    finished_inception_runs(table4.grid(base), fit_epoch=None)
    result = run_module("table4", *TINY, "--epochs=1", f"--results_dir={tmp_path / 'table4'}")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "table4" / "table4.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["row"] for r in table] == [row.label for row in paper.TABLE4]
    assert all(r["status"] == "finished" and 0 <= float(r["train"]) <= 100 for r in table)
    assert "| AlexNet + weight decay | failed to converge |" in result.stdout and "epoch 1/" in result.stdout
    assert not [line for line in result.stdout.splitlines() if "Inception" in line and " epoch " in line]

    # Both reports again from their records alone, without the flags that made them: the same files. Given the
    # preset's results dir, the report finds the runs in its subdirectory, where `make` puts them. (The report's
    # parser and main in this process: tests/test_measures_runs.py runs `python -m rethink_tf.report` itself.)
    for name, results_dir in (("figure2", tmp_path / "figure2"), ("table4", tmp_path / "table4")):
        before = {f: (results_dir / f).read_bytes() for f in (f"{name}.md", f"{name}.csv")}
        status, out, err = cli_in_process(
            monkeypatch, capsys, report.main, name, str(tmp_path if name == "table4" else results_dir)
        )
        assert status == 0 and before[f"{name}.md"].decode().strip() in out, err[-2000:]  # printed, as written
        assert {f: (results_dir / f).read_bytes() for f in before} == before
