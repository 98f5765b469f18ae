"""`python -m rethink_tf.experiments.rademacher`: the empirical Rademacher complexity the randomization test suggests.

Each architecture is trained (the preset's budget, until it fits) on n training images whose labels are
random signs sigma_i (--corruption=random_signs: class 1 for +1, class 0 for -1). The estimate is
(1/n) sum_i sigma_i sign(h(x_i)) with h(x) = logit(+1) - logit(-1) on the training images afterwards, i.e.
2 * training accuracy - 1: near 1 when the model class can fit any signs. The runs are ordinary run
directories (resumable, in TensorBoard); the table is rebuilt from their records each time, written to
rademacher.md and rademacher.csv and printed.
"""

from __future__ import annotations

from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, records, runs, tables
from rethink_tf.experiments import runner

# The five architectures of Table 1: (model, batch norm).
ARCHITECTURES = (
    ("inception_small", True),
    ("inception_small", False),
    ("alexnet_small", True),
    ("mlp_3x512", True),
    ("mlp_1x512", True),
)


def grid(base: config_lib.RunConfig) -> runner.Runs:
    """Every architecture on the random signs, each at its own learning rate unless the base sets one for all
    (as in Table 1)."""
    return [
        (
            f"[rademacher {models.paper_name(model, bn)}]",
            runs.unregularized(base, model=model, batch_norm=bn, corruption="random_signs", corrupt=0.0),
        )
        for model, bn in ARCHITECTURES
    ]


def results(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One result per architecture with a run on random signs (the lowest seed's): the estimate 2 acc - 1."""
    out = []
    for model, bn in ARCHITECTURES:
        mine = records.lowest_seed(
            [
                r
                for r in recs
                if r.config.corruption == "random_signs"
                and r.config.model == model
                and r.config.batch_norm == bn
                and not r.regularizers
            ]
        )
        if not mine:
            continue
        record = mine[0]
        final = record.get("final") or {}
        out.append(
            {
                "model": models.paper_name(model, bn),
                "run_name": record["run_name"],
                "status": record["status"],
                "n": record["data"]["train_examples"],
                "epochs": final.get("epochs_run"),
                "train_accuracy": final.get("train_accuracy"),
                "rademacher": 2 * final["train_accuracy"] - 1 if final else None,
            }
        )
    return out


def table(rows: list[dict[str, Any]]) -> str:
    cells = [
        [
            r["model"],
            f"{r['n']:,}",
            r["epochs"] or "–",
            "–" if r["train_accuracy"] is None else f"{100 * r['train_accuracy']:.2f}%",
            "–" if r["rademacher"] is None else f"{r['rademacher']:.3f}",
        ]
        for r in rows
    ]
    return tables.markdown(
        ["architecture", "n", "epochs", "training accuracy on random signs", "(1/n) sum sigma_i sign(h(x_i))"],
        cells,
        "lrrrr",
    )


def report(results_dir: str) -> str:
    """rademacher.md and rademacher.csv in results_dir, from its records; returns the Markdown table."""
    recs = records.load_all(results_dir)
    rows = results(recs)
    return tables.write(
        results_dir,
        "rademacher",
        table(rows),
        rows,
        ["model", "run_name", "status", "n", "epochs", "train_accuracy", "rademacher"],
        runs=recs,
    )


EXPERIMENT = runner.Experiment("rademacher", report, runs=grid)

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
