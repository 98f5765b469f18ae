"""The CSR-under-noise experiment (Arpit et al. 2017, Figures 7-9): its grid (true labels, randY and randX at each
p, random labels; a CSR point every N epochs), its report from records alone (the curve from before the first
step), and a real smoke grid end to end."""

import csv
import dataclasses
import os

import pytest
from conftest import fake_record, needs_data, smoke_base

from rethink_tf import config, csr, records
from rethink_tf.experiments import csr_noise, runner


def test_the_grid_runs_each_condition_once_with_its_budget_and_a_dense_curve(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), epochs=7, random_label_epochs=150, csr_every=0, weight_decay=0.1)
    grid = csr_noise.grid(base, csr_noise_models=("mlp_1x512",), csr_noise_levels=(0.2, 0.8), csr_noise_size=0)
    assert len(grid) == 6 and len({cfg.run_dir for _, cfg in grid}) == 6
    got = [(csr_noise.which(cfg), cfg.max_epochs) for _, cfg in grid]
    assert got == [
        (("true", 0.0), 7),
        (("randY", 0.2), 150),
        (("randY", 0.8), 150),
        (("random", 0.0), 150),
        (("randX", 0.2), 7),
        (("randX", 0.8), 7),
    ]
    for label, cfg in grid:
        assert label.startswith("[csr_noise ") and cfg.tag == csr_noise.TAG
        assert cfg.csr_every == 1 and cfg.csr_size == base.csr_size and not cfg.regularizers  # weight decay off
        assert not cfg.measures and not cfg.save_weights
    assert grid[4][1].corruption == "gaussian" and grid[4][1].corrupted_inputs == 0.2 and grid[4][1].label_noise == 0
    sized = csr_noise.grid(base, csr_noise_models=("alexnet_small",), csr_noise_every=3, csr_noise_size=64)
    assert len(sized) == 2 + 2 * len(csr_noise.LEVELS) and {(c.csr_every, c.csr_size) for _, c in sized} == {(3, 64)}
    with pytest.raises(config.ConfigError, match="--csr_noise_levels=1: fractions strictly between 0 and 1"):
        csr_noise.grid(base, csr_noise_levels=(0.5, 1.0))
    assert csr_noise.which(config.RunConfig(corruption="gaussian", corrupt=0.5).validate()) is None  # another tag


def fake(cfg, test_csr, accuracies, initial=0.1, fit_epoch=None):
    epochs = [
        {"epoch": e + 1, "loss": 1.0, "val_accuracy": a, csr.TEST_KEY: c, csr.TRAIN_KEY: 0.0}
        for e, (c, a) in enumerate(zip(test_csr, accuracies))
    ]
    initial_point = {csr.TEST_KEY: initial, csr.TRAIN_KEY: initial, csr.SECONDS_KEY: 1.0}
    fake_record(
        cfg, fit_epoch, accuracies[-1], epochs, final={"train_accuracy": 1.0}, **{csr.INITIAL_KEY: initial_point}
    )


def test_report_from_records_alone(tmp_path):
    base = smoke_base(tmp_path)

    def cfg(condition, p=0.0):
        return csr_noise.run_config(base, "mlp_1x512", condition, p, 1, 0)

    fake(cfg("true"), [0.02, 0.03, 0.01], [0.6, 0.8, 0.7], fit_epoch=3)
    fake(cfg("randY", 0.4), [0.05, 0.08, 0.06], [0.5, 0.4, 0.45])
    fake(cfg("random"), [0.1, 0.14, 0.12], [0.1, 0.12, 0.09])
    fake(cfg("randX", 0.4), [0.03, 0.02, 0.04], [0.6, 0.7, 0.65])
    text = runner.run_experiment(csr_noise.EXPERIMENT, base, csr_noise_models=(), csr_noise_levels=(0.5,))
    assert "| MLP 1x512 | true labels | 3 | 3 | 0.700 | 0.800, 2 | 0.100 | 0.020 | 0.030 | 0.010 | 0.000 |" in text
    assert (
        "| MLP 1x512 | label noise p 0.4 | 3 | not fitted | 0.450 | 0.500, 1 | 0.100 | 0.050 | 0.080 | 0.060 |" in text
    )
    with open(tmp_path / "csr_noise.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["condition"], r["p"], r["csr_test_final"]) for r in rows] == [
        ("true", "0.0", "0.01"),
        ("randY", "0.4", "0.06"),
        ("random", "0.0", "0.12"),
        ("randX", "0.4", "0.04"),
    ]
    with open(tmp_path / "csr_noise_curves.csv", newline="") as f:
        curves = list(csv.DictReader(f))
    assert [(c["epoch"], c["csr_test"]) for c in curves if c["condition"] == "random"] == [
        ("0", "0.1"),
        ("1", "0.1"),
        ("2", "0.14"),
        ("3", "0.12"),
    ]
    assert os.path.getsize(tmp_path / "csr_noise.png") > 10_000
    assert "No finished run" in csr_noise.report(str(tmp_path / "empty"))


@needs_data
def test_smoke_experiment_end_to_end(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), train_size=64, test_size=64, epochs=1)
    text = runner.run_experiment(
        csr_noise.EXPERIMENT, base, csr_noise_models=("mlp_1x512",), csr_noise_levels=(0.5,), csr_noise_size=32
    )
    recs = records.load_all(str(tmp_path))
    assert len(recs) == 4 and all(r.finished for r in recs)
    assert all(csr.INITIAL_KEY in r and csr.TEST_KEY in r.epochs[-1] for r in recs)
    assert "| MLP 1x512 | Gaussian inputs p 0.5 | 1 |" in text and "| MLP 1x512 | random labels |" in text
