"""The double-descent experiment (Nakkiran et al. 2019): its grid (widths x label noise on one n, then n at one
width; Adam at a constant rate, no early stop), its report from records alone (the model-wise peak, the found
interpolation threshold, the effective model complexity), and a real smoke grid end to end."""

import csv
import dataclasses
import os

import pytest
from conftest import fake_record, needs_data, smoke_base, tiny_config, tiny_raw

from rethink_tf import config, records, train
from rethink_tf.data import sources
from rethink_tf.experiments import double_descent, runner


def test_the_grid_sweeps_width_and_noise_then_n_with_one_protocol(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), stop_when_fit=True, weight_decay=0.1)
    grid = double_descent.grid(
        base,
        dd_widths=(2.0, 8.0),
        dd_levels=(0.0, 0.2),
        dd_train_size=500,
        dd_sample_sizes=(250, 500),
        dd_sample_width=8.0,
        dd_epochs=30,
    )
    # 2 widths x 2 p, then n = 250 at width 8, p = 0.2 (n = 500 there is already in the model-wise grid)
    assert len(grid) == 5 and len({cfg.run_dir for _, cfg in grid}) == 5
    got = [(cfg.hidden_units, cfg.corrupt, cfg.train_size) for _, cfg in grid]
    assert got == [(2, 0.0, 500), (8, 0.0, 500), (2, 0.2, 500), (8, 0.2, 500), (8, 0.2, 250)]
    for label, cfg in grid:
        assert label.startswith("[double descent ") and cfg.tag == double_descent.TAG
        assert (cfg.optimizer, cfg.lr_decay, cfg.max_epochs, cfg.stop_when_fit) == ("adam", 1.0, 30, False)
        assert not cfg.regularizers and not cfg.measures
        assert (cfg.image_size, cfg.rgb, cfg.curve_test_size) == (14, False, double_descent.CURVE_TEST_SIZE)
    conv = double_descent.grid(
        base, dd_model="alexnet_small", dd_widths=(0.25, 1.0), dd_levels=(0.1,), dd_sample_width=0.0
    )
    assert [cfg.width_multiplier for _, cfg in conv] == [0.25, 1.0]
    for bad, message in (
        (dict(dd_widths=(2.5,)), "--dd_widths=2.5: the MLPs' widths are hidden units"),
        (dict(dd_levels=(1.0,)), "--dd_levels=1: label noise in"),
        (dict(dd_model="inception_v3"), "--dd_model=inception_v3: no width setting"),
    ):
        with pytest.raises(config.ConfigError, match=message):
            double_descent.grid(base, **bad)


def fake(cfg, train_accuracy, test_accuracy, curve, params):
    epochs = [{"epoch": e + 1, "loss": 1.0, "accuracy": 0.5, "val_accuracy": a} for e, a in enumerate(curve)]
    fake_record(
        cfg,
        None,
        test_accuracy,
        epochs,
        data={"train_examples": cfg.train_size},
        final={"train_accuracy": train_accuracy},
        model={"param_count": params},
    )


def test_report_finds_the_peak_the_threshold_and_the_emc(tmp_path):
    base = smoke_base(tmp_path)

    def cfg(width, p, n=400):
        return double_descent.run_config(base, "mlp_1x512", width, p, n, 3, 1e-3)

    # p = 0.2: a peak at width 4, where the training error first reaches 0.1; p = 0: monotone.
    for width, fit, test in ((1, 0.5, 0.40), (4, 0.95, 0.30), (16, 1.0, 0.55), (64, 1.0, 0.70)):
        fake(cfg(width, 0.2), fit, test, [0.3, test, test], params=100 * width)
    for width, fit, test in ((1, 0.6, 0.60), (4, 1.0, 0.70), (16, 1.0, 0.75), (64, 1.0, 0.80)):
        fake(cfg(width, 0.0), fit, test, [0.5, test, test], params=100 * width)
    fake(cfg(4, 0.2, n=200), 1.0, 0.3, [0.3, 0.3, 0.3], params=400)  # EMC of width 4 at p = 0.2: 400
    fake(cfg(4, 0.2, n=800), 0.8, 0.5, [0.3, 0.5, 0.5], params=400)
    text = runner.run_experiment(double_descent.EXPERIMENT, base, dd_widths=(), dd_levels=(), dd_sample_width=0.0)
    assert "| 0.2 | 4 | 4 | 0.700 | 0.600 | 0.300 | yes |" in text
    assert "| 0 | 4 | 4 | 0.300 | 0.400 | 0.200 | no |" in text
    assert "| 4 | 0.2 | 400 | 400 | 0.050 | 0.700 | 0.700, 1 | 400 |" in text
    assert "| 1 | 0.2 | 400 | 100 | 0.500 | 0.600 | 0.600, 2 | – |" in text
    with open(tmp_path / "double_descent.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and {r["n"] for r in rows} == {"200", "400", "800"}
    assert os.path.getsize(tmp_path / "double_descent.png") > 10_000
    assert "No finished run" in double_descent.report(str(tmp_path / "empty"))


@needs_data
def test_smoke_experiment_end_to_end(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), test_size=64)
    text = runner.run_experiment(
        double_descent.EXPERIMENT,
        base,
        dd_widths=(2.0, 16.0),
        dd_levels=(0.2,),
        dd_train_size=64,
        dd_sample_sizes=(32,),
        dd_sample_width=16.0,
        dd_epochs=2,
    )
    recs = records.load_all(str(tmp_path))
    assert len(recs) == 3 and all(r.finished and r.config.optimizer == "adam" for r in recs)
    inputs = 14 * 14  # --dd_image_size=14, grayscale
    assert {r.config.hidden_units: r.param_count for r in recs} == {h: h * (inputs + 1) + 10 * (h + 1) for h in (2, 16)}
    assert "## The model-wise peak per p" in text and "| 16 | 0.2 | 32 |" in text


def test_raw_data_of_another_size_than_the_run_s_is_refused(tmp_path):
    cfg = tiny_config(tmp_path, image_size=14)  # tiny_raw's images are 8x8
    with pytest.raises(sources.DataError, match="are 8x8 images, its --image_size is 14"):
        train.run(cfg, raw=tiny_raw())
    assert not os.path.exists(cfg.run_dir)
