"""Table 4: random labels are fitted with explicit regularizers on: weight decay (Inception, AlexNet, MLPs),
random crop and flip/rotation augmentation (Inception).

`python -m rethink_tf.experiments.table4 --preset=laptop --results_dir=results/laptop/table4` trains every
row without a finished record, then writes table4.md and table4.csv beside the paper's numbers. The crop
and augmentation rows decay the learning rate by 0.999 per epoch (per --lr_decay_examples when set) as the
paper's did, and get the random-label epoch budget, not the crop budget of Table 1.
"""

from __future__ import annotations

from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import paper, records, runs, tables
from rethink_tf.experiments import rowspec, runner


def changes(row: paper.Table4Row) -> dict[str, Any]:
    """What a Table 4 row changes in the base config, declared once: random labels with the row's one regularizer
    (weight decay: the model's default coefficient), the crop rows' slower learning-rate decay."""
    slow = row.regularizer in ("random_crop", "augment")
    return dict(
        model=row.model,
        batch_norm=True,
        corruption="random_labels",
        corrupt=0.0,
        weight_decay=runs.default_weight_decay(row.model) if row.regularizer == "weight_decay" else 0.0,
        random_crop=row.regularizer == "random_crop",
        augment=row.regularizer == "augment",
        crop_epochs=0,
        **({"lr_decay": paper.TABLE4_SLOW_LR_DECAY} if slow else {}),
    )


def row_config(base: config_lib.RunConfig, row: paper.Table4Row) -> config_lib.RunConfig:
    """Random labels with the row's one regularizer (weight decay: the model's default coefficient)."""
    return rowspec.run_config(base, changes(row))


def grid(base: config_lib.RunConfig) -> runner.Runs:
    return [
        (f"[table 4 {i + 1}/{len(paper.TABLE4)} {row.label}]", row_config(base, row))
        for i, row in enumerate(paper.TABLE4)
    ]


def matches(row: paper.Table4Row, config: config_lib.RunConfig) -> bool:
    """Whether a run's config is the run of a Table 4 row: random labels with that one regularizer."""
    return rowspec.matches(changes(row), config)


def rows(recs: list[records.RunRecord]) -> list[dict[str, Any]]:
    """One dict per paper row: the paper's training accuracy and our run's numbers (the lowest seed's; None
    until it has run)."""
    out = []
    for row in paper.TABLE4:
        mine = records.lowest_seed([r for r in recs if matches(row, r.config)])
        rec = mine[0] if mine else None
        final = (rec or {}).get("final") or {}
        last = rec["epochs"][-1] if rec and rec["epochs"] else {}
        cfg = rec.config if rec else None
        out.append(
            {
                "row": row.label,
                "paper_train": row.train_accuracy,
                "train": 100 * final["train_accuracy"] if final else None,
                "running_train": 100 * last["accuracy"] if "accuracy" in last else None,
                "test": 100 * final["test_accuracy"] if final else None,
                "fit_epoch": final.get("fit_epoch"),
                "epochs": final.get("epochs_run"),
                "max_epochs": cfg.max_epochs if cfg else None,
                "weight_decay": cfg.weight_decay if cfg else None,
                "lr_decay": cfg.lr_decay if cfg else None,
                "wall_s": rec["wall_time_s"] if rec else None,
                "status": rec["status"] if rec else "missing",
            }
        )
    return out


def report(results_dir: str) -> str:
    """table4.md and table4.csv in results_dir, from its records; returns the Markdown."""
    recs = [r for r in records.load_all(results_dir) if any(matches(row, r.config) for row in paper.TABLE4)]
    table = rows(recs)
    setups = sorted({(c.dataset, c.train_size or "all", c.batch_size) for c in (r.config for r in recs)}, key=str)
    lines = [
        "# Table 4: training accuracy (%) on random labels with explicit regularizers, the paper (CIFAR-10) "
        "beside this run",
        "",
    ]
    lines += [
        f"- {dataset}, {n_train} training examples, batch {batch}; train: the final model on the "
        "(center-cropped, unaugmented) training set; running: the last epoch's accuracy on the images it "
        "trained on"
        for dataset, n_train, batch in setups
    ]
    cells = []
    for r in table:
        cells.append(
            [
                r["row"],
                "failed to converge" if r["paper_train"] is None else tables.fmt(r["paper_train"]),
                tables.fmt(r["train"]),
                tables.fmt(r["running_train"]),
                r["fit_epoch"] or "–",
                f"{r['epochs'] or '–'} ({r['max_epochs'] or '–'})",
                tables.fmt(r["test"]),
                "–" if r["lr_decay"] is None else f"{r['lr_decay']:g}",
                tables.fmt(r["wall_s"], 0),
                r["status"],
            ]
        )
    text = (
        "\n".join(lines)
        + "\n\n"
        + tables.markdown(
            [
                "row",
                "paper train",
                "ours train",
                "ours running",
                "fit at epoch",
                "epochs (max)",
                "test",
                "lr decay",
                "wall s",
                "status",
            ],
            cells,
            "lrrrrrrrrl",
        )
    )
    return tables.write(results_dir, "table4", text, table, runs=recs)


EXPERIMENT = runner.Experiment("table4", report, runs=grid, subdir="table4")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
