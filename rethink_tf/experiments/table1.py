"""Table 1: five architectures x {random crop, weight decay} x {true, random labels}, beside the paper's numbers.

`python -m rethink_tf.experiments.table1 --preset=laptop --results_dir=results/laptop` trains every row that has
no finished record yet (so an interrupted grid continues where it stopped), then writes table1.md and table1.csv.
Rows differ from the preset's base config only in the fields the paper's table varies.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import paper, records, runs, tables
from rethink_tf.experiments import rowspec, runner

CHANCE_BAND = (8.0, 12.0)  # random-label test accuracy (%) that shows "no better than chance" on 10 classes


@dataclasses.dataclass(frozen=True)
class Options:
    """Table 1's own flags (rethink_tf.cli.define_options), the keyword arguments of grid and labelled_runs."""

    random_label_seeds: int = config_lib.setting(
        1,
        "Table 1: seeds of each random-label row (--seed, --seed + 1, "
        "...), reported as their mean: on a few hundred examples one draw of random labels moves "
        "test accuracy by about 2 points.",
        lower_bound=1,
    )
    single_seed_models: tuple[str, ...] = config_lib.setting(
        (),
        "Table 1: architectures whose random-label "
        "row runs once whatever --random_label_seeds says (a run too long to repeat).",
        choices="model_keys",
    )


def changes(row: paper.Table1Row) -> dict[str, Any]:
    """What a Table 1 row changes in the base config, declared once: the architecture, random crop, the model's
    own weight decay, the labels; no other change."""
    return dict(
        model=row.model,
        batch_norm=row.batch_norm,
        random_crop=row.random_crop,
        weight_decay=runs.default_weight_decay(row.model) if row.weight_decay else 0.0,
        corruption="random_labels" if row.random_labels else "true_labels",
        corrupt=0.0,
    )


def row_config(base: config_lib.RunConfig, row: paper.Table1Row) -> config_lib.RunConfig:
    """The run of one Table 1 row."""
    return rowspec.run_config(base, changes(row))


def grid(
    base: config_lib.RunConfig, random_label_seeds: int = 1, single_seed_models: tuple[str, ...] = ()
) -> list[tuple[paper.Table1Row, config_lib.RunConfig]]:
    """The grid's runs in the paper's row order; a random-label row runs with seeds --seed, --seed + 1, ...
    (`random_label_seeds` of them) unless its architecture is in `single_seed_models`, any other row once."""
    out = []
    for row in paper.TABLE1:
        repeat = row.random_labels and config_lib.model_key(row.model, row.batch_norm) not in single_seed_models
        seeds = range(base.seed, base.seed + (random_label_seeds if repeat else 1))
        out += [(row, row_config(dataclasses.replace(base, seed=seed), row)) for seed in seeds]
    return out


def labelled_runs(
    base: config_lib.RunConfig, random_label_seeds: int = 1, single_seed_models: tuple[str, ...] = ()
) -> runner.Runs:
    out = []
    for row, cfg in grid(base, random_label_seeds, single_seed_models):
        seed = f", seed {cfg.seed}" if random_label_seeds > 1 and row.random_labels else ""
        out.append((f"[row {paper.TABLE1.index(row) + 1}/{len(paper.TABLE1)} {row.label}{seed}]", cfg))
    return out


def matches(row: paper.Table1Row, config: config_lib.RunConfig) -> bool:
    """Whether a run's config is the run of a Table 1 row (any data set, subset or seed)."""
    return rowspec.matches(changes(row), config)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per paper row: the paper's numbers and the mean of our finished runs of it."""
    out = []
    for row in paper.TABLE1:
        mine = [r for r in recs if matches(row, r.config)]
        done = [r for r in mine if r["status"] == records.FINISHED]
        out.append(
            {
                "row": row.label,
                "params": mine[0].param_count if mine else None,
                "lr": ", ".join(sorted({f"{r.config.learning_rate:g}" for r in mine})) or None,
                "paper_train": row.train_accuracy,
                "paper_test": row.test_accuracy,
                "train": _mean([100 * r["final"]["train_accuracy"] for r in done]),
                "test": _mean([100 * r["final"]["test_accuracy"] for r in done]),
                "test_min": min((100 * r["final"]["test_accuracy"] for r in done), default=None),
                "test_max": max((100 * r["final"]["test_accuracy"] for r in done), default=None),
                "runs": len(done),
                "status": ", ".join(sorted({r["status"] for r in mine})) or "missing",
                "epochs": _mean([r["final"]["epochs_run"] for r in done]),
                "wall_s": sum(r["wall_time_s"] for r in mine),
                "random_labels": row.random_labels,
                "model": row.model,
            }
        )
    return out


def claims(table: list[dict[str, Any]]) -> list[tuple[str, bool | None]]:
    """The paper's Table 1 claims, checked on our numbers (None: not every row has a result)."""

    def holds(cond, subset):
        return None if any(r["test"] is None for r in subset) else all(cond(r) for r in subset)

    rand = [r for r in table if r["random_labels"]]
    true = [r for r in table if not r["random_labels"]]
    by_model = {
        m: _mean([r["test"] for r in true if r["model"] == m and r["test"] is not None])
        for m in ("inception_small", "alexnet_small", "mlp_3x512", "mlp_1x512")
    }
    order = (
        None
        if None in by_model.values()
        else (
            by_model["inception_small"] > by_model["alexnet_small"] > max(by_model["mlp_3x512"], by_model["mlp_1x512"])
        )
    )
    lo, hi = CHANCE_BAND
    return [
        ("every random-label row fits: train accuracy >= 99%", holds(lambda r: r["train"] >= 99.0, rand)),
        (
            f"every random-label row tests at chance: {lo:g}% <= test accuracy <= {hi:g}%",
            holds(lambda r: lo <= r["test"] <= hi, rand),
        ),
        ("every true-label row tests far above chance: test accuracy >= 50%", holds(lambda r: r["test"] >= 50.0, true)),
        ("test accuracy keeps the paper's order Inception > AlexNet > MLPs (mean of true-label rows)", order),
    ]


def report(results_dir: str) -> str:
    """table1.md and table1.csv in results_dir from its records; returns the Markdown."""
    recs = [r for r in records.load_all(results_dir) if any(matches(row, r.config) for row in paper.TABLE1)]
    table = rows(recs)
    setups = sorted(
        {
            (
                c.preset or "custom",
                c.dataset,
                c.train_size or "all",
                c.test_size or "all",
                c.epochs,
                c.crop_epochs or c.epochs,
                c.random_label_epochs or c.epochs,
            )
            for c in (r.config for r in recs)
        },
        key=str,
    )
    origins = sorted({r["data"]["origin"] for r in recs if r.get("data")})
    lines = ["# Table 1: train / test accuracy (%), the paper (CIFAR-10) beside this run", ""]
    for preset, dataset, n_train, n_test, epochs, crop_epochs, random_label_epochs in setups:
        caps = [
            f"{n} {what}"
            for n, what in ((crop_epochs, "with random crop"), (random_label_epochs, "on random labels"))
            if n != epochs
        ]
        lines.append(
            f"- preset `{preset}`: {dataset}, {n_train} training / {n_test} test examples, "
            f"at most {epochs} epochs{' (' + ', '.join(caps) + ')' if caps else ''}"
        )
    lines += [f"- data: {origin}" for origin in origins]
    total = sum(r["wall_s"] for r in table)
    lines += [f"- total wall time of the runs: {total:.0f} s ({total / 60:.1f} min)", ""]
    if any(r["runs"] > 1 for r in table):
        lines += ["Rows with several runs (seeds) show their mean, and the range of test accuracy in brackets.", ""]
    cells = []
    for r in table:
        params = "–" if r["params"] is None else f"{r['params']:,}"
        spread = f" ({r['test_min']:.2f}–{r['test_max']:.2f})" if r["runs"] > 1 else ""
        cells.append(
            [
                r["row"],
                params,
                tables.fmt(r["paper_train"]),
                tables.fmt(r["paper_test"]),
                tables.fmt(r["train"]),
                f"{tables.fmt(r['test'])}{spread}",
                r["runs"],
                r["lr"] or "–",
                tables.fmt(r["epochs"], 0),
                f"{r['wall_s']:.0f}",
                r["status"],
            ]
        )
    text = (
        "\n".join(lines)
        + "\n"
        + tables.markdown(
            [
                "row",
                "params",
                "paper train",
                "paper test",
                "ours train",
                "ours test",
                "runs",
                "lr",
                "epochs",
                "wall s",
                "status",
            ],
            cells,
            "lrrrrrrrrrl",
        )
    )
    text += "\nThe paper's claims, checked on these numbers:\n\n"
    for claim, ok in claims(table):
        text += f"- [{'x' if ok else ' '}] {claim}{'' if ok is not None else ' (not every row has run)'}\n"
    return tables.write(
        results_dir,
        "table1",
        text,
        table,
        [
            "row",
            "params",
            "paper_train",
            "paper_test",
            "train",
            "test",
            "test_min",
            "test_max",
            "lr",
            "runs",
            "epochs",
            "wall_s",
            "status",
        ],
        runs=recs,
    )


EXPERIMENT = runner.Experiment("table1", report, runs=labelled_runs, options=Options)

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
