"""Table 2: Inception V3 on ImageNet, true labels with and without the paper's regularizers, and random labels;
top-1 and top-5 accuracy on the training and validation sets, and the best test accuracy of any epoch.

`make reproduce-table2 PRESET=smoke` runs every row on a tiny ImageNet-format set made here (tools/tiny_imagenet.py,
prepared by tfds' own imagenet2012 builder); PRESET=paper reads the user's ILSVRC2012 tar files (--manual_dir).
`python -m rethink_tf.experiments.table2 --preset=table2_smoke ...` trains every row without a finished record,
then writes table2.md and table2.csv beside the paper's numbers. Augmentation is this package's random crop
(of the --crop_size window from the --image_size image) with the flip and rotation of Table 4, not TensorFlow's
Inception preprocessing (docs/decisions.md); every row is tested every epoch, for the "best" columns.
"""

from __future__ import annotations

from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import paper, plots, records, runs, tables
from rethink_tf.experiments import rowspec, runner

MODEL = "inception_v3"
# The dropout rate of the dropout rows *(inferred)*: the paper gives none; TensorFlow's own Inception V3 (slim's
# inception_v3, dropout_keep_prob=0.8) drops 0.2 before the logits.
DROPOUT = 0.2


def changes(row: paper.Table2Row) -> dict[str, Any]:
    """What a Table 2 row changes in the base config, declared once: Inception V3 with the row's regularizers
    (augmentation: random crop + flip and rotation) and labels, tested every epoch; every row gets the same
    --epochs (--random_label_epochs for random labels), none the crop budget of Table 1."""
    return dict(
        model=MODEL,
        batch_norm=True,
        corruption="random_labels" if row.random_labels else "true_labels",
        corrupt=0.0,
        random_crop=row.augment,
        augment=row.augment,
        dropout=DROPOUT if row.dropout else 0.0,
        weight_decay=runs.default_weight_decay(MODEL) if row.weight_decay else 0.0,
        crop_epochs=0,
        eval_every=1,
    )


def row_config(base: config_lib.RunConfig, row: paper.Table2Row) -> config_lib.RunConfig:
    return rowspec.run_config(base, changes(row))


def grid(base: config_lib.RunConfig) -> runner.Runs:
    return [
        (f"[table 2 {i + 1}/{len(paper.TABLE2)} {row.label}]", row_config(base, row))
        for i, row in enumerate(paper.TABLE2)
    ]


def matches(row: paper.Table2Row, config: config_lib.RunConfig) -> bool:
    """Whether a run's config is the run of a Table 2 row: Inception V3, its labels, its regularizers."""
    return rowspec.matches(changes(row), config)


def _percent(values: dict[str, Any], key: str) -> float | None:
    return 100 * values[key] if key in values else None


def _best(rec: dict[str, Any], key: str) -> float | None:
    """The best test accuracy (%) of any epoch: the maximum of the per-epoch test curve."""
    curve = [y for _, y in plots.curve(rec, key)]
    return 100 * max(curve) if curve else None


def rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per paper row: the paper's numbers and our run's (the lowest seed's; None until it has run)."""
    out = []
    for row in paper.TABLE2:
        mine = records.lowest_seed([r for r in recs if matches(row, r.config)])
        rec = mine[0] if mine else None
        final = (rec or {}).get("final") or {}
        out.append(
            {
                "row": row.label,
                "paper_top1_train": row.top1_train,
                "top1_train": _percent(final, "train_accuracy"),
                "paper_top5_train": row.top5_train,
                "top5_train": _percent(final, "train_top5_accuracy"),
                "paper_top1_test": row.top1_test,
                "top1_test": _percent(final, "test_accuracy"),
                "paper_best_top1_test": row.best_top1_test,
                "best_top1_test": _best(rec, "val_accuracy") if rec else None,
                "paper_top5_test": row.top5_test,
                "top5_test": _percent(final, "test_top5_accuracy"),
                "paper_best_top5_test": row.best_top5_test,
                "best_top5_test": _best(rec, "val_top5_accuracy") if rec else None,
                "epochs": final.get("epochs_run"),
                "wall_s": rec["wall_time_s"] if rec else None,
                "status": rec["status"] if rec else "missing",
            }
        )
    return out


def _pair(paper_value: float | None, ours: float | None) -> str:
    return f"{tables.fmt(paper_value)} / {tables.fmt(ours)}"


def _with_best(value: float | None, best: float | None) -> str:
    return tables.fmt(value) + (f" ({tables.fmt(best)})" if best is not None else "")


def report(results_dir: str) -> str:
    """table2.md and table2.csv in results_dir, from its records; returns the Markdown."""
    recs = [r for r in records.load_all(results_dir) if any(matches(row, r.config) for row in paper.TABLE2)]
    table = rows(recs)
    setups = sorted(
        {
            (c.dataset, c.train_size or "all", c.test_split, c.test_size or "all", c.crop_size)
            for c in (r.config for r in recs)
        },
        key=str,
    )
    lines = [
        "# Table 2: Inception V3, top-1 and top-5 accuracy (%), the paper (ImageNet, 299x299) / this run",
        "",
        "Test: the final model on the test split; in brackets the best of any epoch (the paper gives it for two "
        "rows). Train: the final model on the training set, center-cropped and unaugmented.",
        "",
    ]
    lines += [
        f"- {dataset}: {n_train} training examples; test split {split}, {n_test} examples; {crop}x{crop} inputs"
        for dataset, n_train, split, n_test, crop in setups
    ]
    cells = [
        [
            r["row"],
            _pair(r["paper_top1_train"], r["top1_train"]),
            _pair(r["paper_top5_train"], r["top5_train"]),
            f"{_with_best(r['paper_top1_test'], r['paper_best_top1_test'])} / "
            f"{_with_best(r['top1_test'], r['best_top1_test'])}",
            f"{_with_best(r['paper_top5_test'], r['paper_best_top5_test'])} / "
            f"{_with_best(r['top5_test'], r['best_top5_test'])}",
            r["epochs"] or "–",
            tables.fmt(r["wall_s"], 0),
            r["status"],
        ]
        for r in table
    ]
    text = (
        "\n".join(lines)
        + "\n\n"
        + tables.markdown(
            [
                "row",
                "top-1 train",
                "top-5 train",
                "top-1 test (best)",
                "top-5 test (best)",
                "epochs",
                "wall s",
                "status",
            ],
            cells,
            "lrrrrrrl",
        )
    )
    return tables.write(results_dir, "table2", text, table, runs=recs)


EXPERIMENT = runner.Experiment("table2", report, runs=grid, subdir="table2")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
