"""The regularizers experiment (Arpit et al. 2017, §5): its grid (one regularizer at a time, every run the same
budget), its report from records alone (random-label fit against true-label best test accuracy; randY's best
test epoch against its fit epoch), and a real smoke grid end to end."""

import csv
import dataclasses
import math
import os

from conftest import fake_record, needs_data, smoke_base

from rethink_tf import config, records
from rethink_tf.experiments import regularizers, runner


def test_the_grid_turns_on_one_regularizer_at_a_time_with_one_budget(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), epochs=7, random_label_epochs=150, crop_epochs=20)
    grid = regularizers.grid(base, regularizer_models=("mlp_1x512",), regularizer_epochs=5)
    per_model = 2 * (1 + sum(len(s) for s in regularizers.STRENGTHS.values())) + 1
    assert len(grid) == per_model and len({cfg.run_dir for _, cfg in grid}) == per_model
    for label, cfg in grid:
        assert cfg.max_epochs == 5 and cfg.tag == regularizers.TAG, label
        setting = regularizers.which(cfg)
        assert setting is not None and label.startswith("[regularizers ")
        on = cfg.regularizers
        assert len(on) <= 1 or on == {"adversarial", "dropout"}
    adversarial = [cfg for _, cfg in grid if "adversarial" in cfg.regularizers]
    assert len(adversarial) == 6 and all(cfg.dropout == regularizers.ADVERSARIAL_DROPOUT for cfg in adversarial)
    names = [cfg.run_dir for _, cfg in grid]
    assert any(n.endswith("mlp_1x512-fashion_mnist-random_labels-dropout0.5-seed0") for n in names)
    assert any(n.endswith("mlp_1x512-fashion_mnist-true_labels-p0.8-seed0") for n in names)
    only = regularizers.grid(base, regularizer_models=("alexnet_small",), regularizer_names=("dropout",))
    assert len(only) == 2 * 4 + 1 and only[0][1].max_epochs == 7  # 0: the base's --epochs


def fake(cfg, train_accuracy, val_accuracies, fit_epoch=None):
    epochs = [{"epoch": e + 1, "loss": 1.0, "accuracy": 0.5, "val_accuracy": v} for e, v in enumerate(val_accuracies)]
    fake_record(cfg, fit_epoch, val_accuracies[-1], epochs, final={"train_accuracy": train_accuracy})


def test_report_from_records_alone(tmp_path):
    base = smoke_base(tmp_path)

    def cfg(regularizer, strength, labels):
        return regularizers.run_config(base, "mlp_1x512", regularizer, strength, labels, 3)

    fake(cfg("none", 0.0, "random"), 1.0, [0.1, 0.1, 0.1], fit_epoch=3)
    fake(cfg("none", 0.0, "true"), 1.0, [0.6, 0.8, 0.7], fit_epoch=2)
    fake(cfg("dropout", 0.5, "random"), 0.3, [0.1, 0.1, 0.1])
    fake(cfg("dropout", 0.5, "true"), 0.9, [0.5, 0.6, 0.78])
    fake(cfg("none", 0.0, "randy"), 0.9, [0.5, 0.55, 0.4])  # best at epoch 2, not fitted
    text = runner.run_experiment(regularizers.EXPERIMENT, base, regularizer_names=(), regularizer_models=())
    assert "| MLP 1x512 | dropout (rate) | 0.5 | 0.300 | 3 | 0.780 | 0.780 | 0.900 |" in text
    assert "| MLP 1x512 | none | – | 1.000 | 3 | 0.800 | 0.700 | 1.000 |" in text
    assert "| MLP 1x512 | 0.550 | 2 | not fitted | 0.400 | 3 |" in text
    with open(tmp_path / "regularizers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["regularizer"], r["strength"], r["true_best_epoch"]) for r in rows] == [
        ("none", "0.0", "2"),
        ("dropout", "0.5", "3"),
    ]
    assert os.path.getsize(tmp_path / "regularizers.png") > 10_000


def test_a_run_of_another_experiment_is_not_read_as_a_setting(tmp_path):
    two = config.RunConfig(dropout=0.5, weight_decay=0.1).validate()
    assert regularizers.which(two) is None
    assert regularizers.which(config.RunConfig(random_crop=True).validate()) == ("random_crop", 1.0)
    assert math.isnan(regularizers.best_test(records.RunRecord(epochs=[]))[0])
    assert "No finished run" in regularizers.report(str(tmp_path))


@needs_data
def test_smoke_experiment_end_to_end(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), train_size=64, test_size=64, crop_size=12)
    text = runner.run_experiment(
        regularizers.EXPERIMENT,
        base,
        regularizer_models=("mlp_1x512",),
        regularizer_names=("random_crop",),
        regularizer_epochs=2,
    )
    recs = records.load_all(str(tmp_path))
    assert len(recs) == 2 * 2 + 1 and all(r.finished and r.config.max_epochs == 2 for r in recs)
    assert "| MLP 1x512 | random crop (Table 4) | – |" in text and "| MLP 1x512 | none | – |" in text
    assert "## Label noise p = 0.8" in text
