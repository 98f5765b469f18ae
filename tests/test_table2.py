"""Table 2: its rows as runs, its report from records, and its smoke data (ILSVRC2012's format, prepared by tfds'
own imagenet2012 builder offline). `make reproduce-table2 PRESET=smoke` trains it all (minutes; not a test)."""

import dataclasses
import os
import sys

import numpy as np
import preset_flags
import pytest
import tensorflow_datasets as tfds
from conftest import needs_data

from rethink_tf import paper, records, runs
from rethink_tf.data import sources, tfds_source
from rethink_tf.experiments import table2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
import tiny_imagenet  # noqa: E402


def smoke_base(results_dir):
    return preset_flags.base_config("--preset=table2_smoke", f"--results_dir={results_dir}")


def test_every_row_is_one_run_that_only_its_row_claims(tmp_path):
    runs_ = table2.grid(smoke_base(tmp_path))
    assert len(runs_) == len(paper.TABLE2) == 7
    assert len({cfg.run_dir for _, cfg in runs_}) == 7
    for (_, cfg), row in zip(runs_, paper.TABLE2):
        assert cfg.model == "inception_v3" and cfg.eval_every == 1
        assert (cfg.corruption == "random_labels") == row.random_labels
        assert (cfg.random_crop, cfg.augment) == (row.augment, row.augment)
        assert (cfg.dropout == table2.DROPOUT) == row.dropout and (cfg.dropout == 0) == (not row.dropout)
        assert (cfg.weight_decay == runs.default_weight_decay("inception_v3")) == row.weight_decay
        claimed = [r for r in paper.TABLE2 if table2.matches(r, cfg)]
        assert claimed == [row]


def _record(cfg, *, top1_train, top5_train, test_curve, top5_curve, top1_test, top5_test):
    epochs = [
        {"epoch": e + 1, "accuracy": top1_train, "val_accuracy": v, "val_top5_accuracy": v5}
        for e, (v, v5) in enumerate(zip(test_curve, top5_curve))
    ]
    return {
        **records.new_record(cfg, data={"train_examples": 190}),
        "status": records.FINISHED,
        "config": dataclasses.asdict(cfg),
        "epochs": epochs,
        "final": {
            "train_accuracy": top1_train,
            "train_top5_accuracy": top5_train,
            "test_accuracy": top1_test,
            "test_top5_accuracy": top5_test,
            "epochs_run": len(epochs),
        },
        "wall_time_s": 12.0,
    }


def test_report_gives_top1_top5_and_the_best_epoch_beside_the_papers(tmp_path):
    base = smoke_base(tmp_path)
    (_, wd_true), (_, none_random) = table2.grid(base)[2], table2.grid(base)[6]
    for cfg, rec in (
        (
            wd_true,
            _record(
                wd_true,
                top1_train=0.5,
                top5_train=0.75,
                test_curve=[0.1, 0.4, 0.3],
                top5_curve=[0.2, 0.5, 0.45],
                top1_test=0.3,
                top5_test=0.45,
            ),
        ),
        (
            none_random,
            _record(
                none_random,
                top1_train=0.25,
                top5_train=0.5,
                test_curve=[0.0],
                top5_curve=[0.025],
                top1_test=0.0,
                top5_test=0.025,
            ),
        ),
    ):
        os.makedirs(cfg.run_dir)
        records.write_json(os.path.join(cfg.run_dir, records.RECORD), rec)
    text = table2.report(str(tmp_path))
    rows = {r["row"]: r for r in table2.rows(records.load_all(str(tmp_path)))}
    wd = rows["wd, true labels"]
    assert (wd["top1_train"], wd["top5_train"], wd["top1_test"], wd["top5_test"]) == (50.0, 75.0, 30.0, 45.0)
    assert (wd["best_top1_test"], wd["best_top5_test"]) == (40.0, 50.0)  # the best epoch, not the last
    assert (wd["paper_top1_test"], wd["paper_best_top1_test"]) == (67.18, 72.57)
    assert rows["none, random labels"]["top5_test"] == 2.5
    assert rows["aug, true labels"]["status"] == "missing" and rows["aug, true labels"]["top1_test"] is None
    assert "| wd, true labels | 90.60 / 50.00 | 100.00 / 75.00 | 67.18 (72.57) / 30.00 (40.00) |" in text
    assert os.path.exists(tmp_path / "table2.csv")


@needs_data
def test_the_smoke_set_is_imagenet2012_as_tfds_prepares_it_offline(tmp_path, monkeypatch):
    n_train, n_val = tiny_imagenet.write(str(tmp_path / "tars"), val=12, train_per_class=2, side=80)
    assert n_val == 12 and n_train % 2 == 0
    base = dataclasses.replace(
        smoke_base(tmp_path / "results"),
        download=True,
        manual_dir=str(tmp_path / "tars"),
        data_dir=str(tmp_path / "tfds"),
    )
    raw = sources.load_for(base)
    assert raw.num_classes == 1000 and raw.class_names[0] == "n01440764"
    assert raw.train.images.shape == (n_train, 86, 86, 3) and raw.test.images.shape == (12, 86, 86, 3)
    # tfds labels the validation images by its own list, in name order: ours are its first 12 synsets (tfds
    # stores the examples in an order of its own, the canonical order of our splits).
    with open(os.fspath(tfds.core.tfds_path("datasets/imagenet2012/validation_labels.txt"))) as f:
        first = f.read().split()[:12]
    assert sorted(raw.class_names[i] for i in raw.test.labels) == sorted(first)
    assert set(np.unique(raw.train.labels)) == {raw.class_names.index(s) for s in first}
    # Without --download (and no prepared copy) the same set is one line naming the fix.
    with pytest.raises(sources.DataError, match="--manual_dir=FOLDER --download"):
        sources.load_for(dataclasses.replace(base, download=False, data_dir=str(tmp_path / "empty")))
    # A tfds slice of the split trains on part of it; a split too large for memory is refused before it is read.
    half = sources.load_for(dataclasses.replace(base, train_split="train[:50%]"))
    assert half.train.images.shape == (n_train // 2, 86, 86, 3)
    monkeypatch.setattr(tfds_source, "available_memory", lambda: 10**5)
    too_big = rf"split 'train' is {n_train} images of 86x86x3: 0.0 GB in memory .* more than the 0.0 GB available"
    with pytest.raises(sources.DataError, match=too_big + ".*Fix: choose a smaller split"):
        sources.load_for(base)
