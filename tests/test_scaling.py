"""The scaling experiment (Table 1 and Figure 1b as n grows): its grid (true and random labels per model and n,
each model up to its cap), its report from records alone (the slowdown beside the paper's, the models' order),
and a real smoke grid end to end."""

import csv
import dataclasses
import os

import pytest
from conftest import fake_record, needs_data, smoke_base

from rethink_tf import config, records
from rethink_tf.experiments import runner, scaling


def test_the_grid_runs_each_model_up_to_its_cap_smallest_n_first(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), weight_decay=0.1, measures=True)
    grid = scaling.grid(
        base,
        scaling_models=("mlp_1x512", "alexnet_small"),
        scaling_sizes=(6400, 400, 1600),
        scaling_max_sizes=("alexnet_small=1600",),
    )
    got = [(cfg.model, cfg.train_size, cfg.corruption) for _, cfg in grid]
    assert got == [
        (m, n, c)
        for n, ms in (
            (400, ("mlp_1x512", "alexnet_small")),
            (1600, ("mlp_1x512", "alexnet_small")),
            (6400, ("mlp_1x512",)),
        )
        for m in ms
        for c in ("true_labels", "random_labels")
    ]
    assert len({cfg.run_dir for _, cfg in grid}) == len(grid)
    assert grid[0][1].run_dir.endswith("mlp_1x512-fashion_mnist-true_labels-seed0-n400")
    for label, cfg in grid:
        assert label.startswith("[scaling ") and cfg.tag == scaling.TAG
        assert not cfg.regularizers and not cfg.measures and not cfg.ledger and not cfg.csr_every
    with pytest.raises(config.ConfigError, match="--scaling_max_sizes=alexnet=5: give MODEL=N"):
        scaling.grid(base, scaling_max_sizes=("alexnet=5",))


def fake(cfg, test_accuracy, fit_epoch, n, accuracies=None):
    """A finished run's record; `accuracies`: its per-epoch training accuracy, when it is not the default ramp."""
    epochs = [{"epoch": e, "loss": 1.0, "accuracy": a} for e, a in enumerate(accuracies, 1)] if accuracies else None
    train_accuracy = accuracies[-1] if accuracies else 1.0
    fake_record(
        cfg,
        fit_epoch,
        test_accuracy,
        epochs=epochs,
        data={"train_examples": n},
        final={"train_accuracy": train_accuracy},
        wall_time_s=10.0,
    )


def test_report_gives_the_slowdown_beside_the_paper_s_and_the_order(tmp_path):
    base = smoke_base(tmp_path)  # batch 128 (smoke): steps = epochs x ceil(n / 128)
    for model, n, true_acc, true_fit, random_fit in (
        ("mlp_1x512", 400, 0.78, 18, 26),
        ("alexnet_small", 400, 0.80, 25, 43),
        ("mlp_1x512", 1600, 0.80, 10, 30),
        ("alexnet_small", 1600, 0.84, 8, 20),
    ):
        fake(scaling.run_config(base, model, n, False), true_acc, true_fit, n)
        fake(scaling.run_config(base, model, n, True), 0.1, random_fit, n)
    text = runner.run_experiment(scaling.EXPERIMENT, base, scaling_models=(), scaling_sizes=())
    assert "| MLP 1x512 | 400 | 0.780 | 0.100 | 1.000 | 72 | 104 | 1.44x | 1.44x | 1.96x |" in text
    assert "| AlexNet | 1,600 | 0.840 | 0.100 | 1.000 | 104 | 260 | 2.50x | 2.50x | 1.55x |" in text
    assert "- n = 400: AlexNet > MLP 1x512" in text
    with open(tmp_path / "scaling.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["n"]) for r in rows] == [
        ("alexnet_small", "400"),
        ("mlp_1x512", "400"),
        ("alexnet_small", "1600"),
        ("mlp_1x512", "1600"),
    ]
    assert os.path.getsize(tmp_path / "scaling.png") > 10_000
    assert "No finished run" in scaling.report(str(tmp_path / "empty"))


def test_a_random_label_run_short_of_the_level_gives_a_lower_bound_and_99_percent_has_its_own_ratio(tmp_path):
    base = smoke_base(tmp_path)  # 6,400 images at batch 128: 50 steps an epoch
    # MLP: true labels fit at epoch 10; random labels at 0.5 after all 150 epochs: at least 150 / 10.
    fake(scaling.run_config(base, "mlp_1x512", 6400, False), 0.85, 10, 6400)
    fake(scaling.run_config(base, "mlp_1x512", 6400, True), 0.1, None, 6400, [e / 300 for e in range(1, 151)])
    # AlexNet: true labels one example short of 100% (99% at epoch 2); random labels at 99% in epoch 4, 100% in 5.
    fake(scaling.run_config(base, "alexnet_small", 6400, False), 0.88, None, 6400, [0.5, 0.995, 0.999])
    fake(scaling.run_config(base, "alexnet_small", 6400, True), 0.1, 5, 6400, [0.3, 0.6, 0.9, 0.991, 1.0])
    text = runner.run_experiment(scaling.EXPERIMENT, base, scaling_models=(), scaling_sizes=())
    assert "| MLP 1x512 | 6,400 | 0.850 | 0.100 | 0.500 | 500 | not fitted | > 15.00x | > 15.00x | 1.96x |" in text
    assert "| AlexNet | 6,400 | 0.880 | 0.100 | 1.000 | not fitted | 250 | – | 2.00x | 1.55x |" in text
    with open(tmp_path / "scaling.csv", newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert rows["mlp_1x512"]["slowdown_is_lower_bound"] == "True" and rows["mlp_1x512"]["random_steps_to_99"] == ""
    assert rows["alexnet_small"]["slowdown_to_99_is_lower_bound"] == "False"
    assert (rows["alexnet_small"]["true_steps_to_99"], rows["alexnet_small"]["random_steps_to_99"]) == ("100", "200")


@needs_data
def test_smoke_experiment_end_to_end(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), test_size=64, epochs=1, random_label_epochs=1)
    text = runner.run_experiment(scaling.EXPERIMENT, base, scaling_models=("mlp_1x512",), scaling_sizes=(32, 64))
    recs = records.load_all(str(tmp_path))
    assert len(recs) == 4 and all(r.finished for r in recs)
    assert sorted(r["data"]["train_examples"] for r in recs) == [32, 32, 64, 64]
    assert "| MLP 1x512 | 32 |" in text and "| MLP 1x512 | 64 |" in text
