"""Table 4: random labels are fitted with explicit regularizers on: weight decay (Inception, AlexNet, MLPs),
random crop and flip/rotation augmentation (Inception).

`python -m rethink_tf.experiments.table4 --preset=laptop --results_dir=results/laptop/table4` trains every
row without a finished record, then writes table4.md and table4.csv beside the paper's numbers. The crop
and augmentation rows decay the learning rate by 0.999 per epoch (per --lr_decay_examples when set) as the
paper's did, and get the random-label epoch budget, not the crop budget of Table 1.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, paper, records, report
from rethink_tf.experiments import grid as experiment_grid


def row_config(base: config_lib.RunConfig, row: paper.Table4Row, learning_rate: float | None = None) -> config_lib.RunConfig:
    """Random labels with the row's one regularizer (weight decay: the model's default coefficient)."""
    spec = models.MODELS[row.model]
    slow = row.regularizer in ("random_crop", "augment")
    return dataclasses.replace(
        base, model=row.model, batch_norm=True, corruption="random_labels", corrupt=0.0,
        weight_decay=spec.default_weight_decay if row.regularizer == "weight_decay" else 0.0,
        random_crop=row.regularizer == "random_crop", augment=row.regularizer == "augment", crop_epochs=0,
        lr_decay=paper.TABLE4_SLOW_LR_DECAY if slow else base.lr_decay,
        learning_rate=learning_rate or spec.default_learning_rate, run_name="").validate()


def grid(base: config_lib.RunConfig, learning_rate: float | None = None) -> list[tuple[str, config_lib.RunConfig]]:
    return [(f"[table 4 {i + 1}/{len(paper.TABLE4)} {row.label}]", row_config(base, row, learning_rate))
            for i, row in enumerate(paper.TABLE4)]


def rows(base: config_lib.RunConfig, learning_rate: float | None = None) -> list[dict[str, Any]]:
    """One dict per paper row: the paper's training accuracy and our run's numbers (None until it has run)."""
    out = []
    for row, (_, cfg) in zip(paper.TABLE4, grid(base, learning_rate), strict=True):
        rec = records.read_record(cfg.run_dir)
        final = (rec or {}).get("final") or {}
        last = rec["epochs"][-1] if rec and rec["epochs"] else {}
        out.append({
            "row": row.label, "paper_train": row.train_accuracy,
            "train": 100 * final["train_accuracy"] if final else None,
            "running_train": 100 * last["accuracy"] if "accuracy" in last else None,
            "test": 100 * final["test_accuracy"] if final else None,
            "fit_epoch": final.get("fit_epoch"), "epochs": final.get("epochs_run"), "max_epochs": cfg.max_epochs,
            "weight_decay": cfg.weight_decay, "lr_decay": cfg.lr_decay,
            "wall_s": rec["wall_time_s"] if rec else None, "status": rec["status"] if rec else "missing",
        })
    return out


def write(base: config_lib.RunConfig, learning_rate: float | None = None) -> str:
    """table4.md and table4.csv in the results dir, from the records; returns the Markdown."""
    table = rows(base, learning_rate)
    md = io.StringIO()
    md.write("# Table 4: training accuracy (%) on random labels with explicit regularizers, the paper (CIFAR-10) "
             "beside this run\n\n")
    md.write(f"- {base.dataset}, {base.train_size or 'all'} training examples, batch {base.batch_size}; "
             f"train: the final model on the (center-cropped, unaugmented) training set; running: the last "
             f"epoch's accuracy on the images it trained on\n\n")
    md.write("| row | paper train | ours train | ours running | fit at epoch | epochs (max) | test | lr decay | wall s | status |\n")
    md.write("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
    for r in table:
        paper_train = "failed to converge" if r["paper_train"] is None else report.fmt(r["paper_train"])
        wall = report.fmt(r["wall_s"], 0)
        md.write(f"| {r['row']} | {paper_train} | {report.fmt(r['train'])} | {report.fmt(r['running_train'])} | "
                 f"{r['fit_epoch'] or '–'} | {r['epochs'] or '–'} ({r['max_epochs']}) | {report.fmt(r['test'])} | "
                 f"{r['lr_decay']:g} | {wall} | {r['status']} |\n")
    text = md.getvalue()
    os.makedirs(base.results_dir, exist_ok=True)
    with open(os.path.join(base.results_dir, "table4.md"), "w") as f:
        f.write(text)
    with open(os.path.join(base.results_dir, "table4.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return text


if __name__ == "__main__":
    experiment_grid.entry_point(grid, write)
