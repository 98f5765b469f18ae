"""Figure 2b: Inception with and without BatchNorm on true labels, training and test accuracy vs steps, with
the cumulative best test accuracy shaded (what early stopping could gain over the last epoch).

`python -m rethink_tf.experiments.figure2 --preset=laptop --results_dir=results/laptop/figure2` trains both
runs for the preset's --epochs, testing after every epoch (the preset's --curve_test_size examples, at least
1,000), and
draws figure2.png and figure2.csv from their records.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, paper, plots, records, runs, tables
from rethink_tf.experiments import runner

MODEL = "inception_small"
COLORS = {True: "C0", False: "C3"}
# The figure is about the test curve itself (what early stopping gains), so its curve set has at least this many
# test images even where a preset's is smaller for a cheap gap point per epoch (the laptop preset's 200).
MIN_CURVE_TEST_SIZE = 1000


def curve_test_size(base: config_lib.RunConfig) -> int:
    """The preset's curve set, at least MIN_CURVE_TEST_SIZE images, within the test split (0: all of it)."""
    size = base.curve_test_size and max(base.curve_test_size, MIN_CURVE_TEST_SIZE)
    return 0 if base.test_size and size >= base.test_size else size


def run_config(base: config_lib.RunConfig, batch_norm: bool) -> config_lib.RunConfig:
    """Inception with or without BatchNorm, no explicit regularizer, tested every epoch and trained for the
    whole budget (the curves go on after 100% training accuracy, as the paper's do)."""
    return runs.unregularized(
        base,
        model=MODEL,
        batch_norm=batch_norm,
        corruption="true_labels",
        corrupt=0.0,
        stop_when_fit=False,
        eval_every=1,
        curve_test_size=curve_test_size(base),
    )


def grid(base: config_lib.RunConfig) -> runner.Runs:
    return [
        (f"[figure 2 {i + 1}/2 {models.paper_name(MODEL, bn)}]", run_config(base, bn))
        for i, bn in enumerate((True, False))
    ]


def _is_mine(r: records.RunRecord) -> bool:
    c = r.config
    return (
        c.model == MODEL
        and c.corruption == "true_labels"
        and c.corrupt == 0
        and not c.stop_when_fit
        and c.eval_every == 1
        and not r.regularizers
    )


def series(recs: list[dict[str, Any]]) -> list[tuple[str, str, float, float]]:
    """(panel, series, step, accuracy) rows from the finished runs (the lowest seed of each): "<model> train"
    (the running accuracy of each epoch), "<model> test" and "<model> best test" (the best test accuracy so far)."""
    rows = []
    done = [r for r in recs if r.finished and _is_mine(r)]
    for bn in (True, False):
        mine = records.lowest_seed([r for r in done if r.config.batch_norm == bn])
        if not mine:
            continue
        rec, name = mine[0], config_lib.model_key(MODEL, bn)
        test = plots.curve(rec, "val_accuracy")
        rows += [("b", f"{name} train", x, y) for x, y in plots.curve(rec, "accuracy")]
        rows += [("b", f"{name} test", x, y) for x, y in test]
        best = itertools.accumulate((y for _, y in test), max)
        rows += [("b", f"{name} best test", x, y) for (x, _), y in zip(test, best, strict=True)]
    return rows


def draw(rows: list[tuple[str, str, float, float]], path: str) -> None:
    fig, (ax,) = plots.new_figure(1, width=7.0, height=4.5)
    by = {name: points for (_, name), points in plots.group(rows).items()}
    for bn in (True, False):
        key, label, color = config_lib.model_key(MODEL, bn), models.paper_name(MODEL, bn), COLORS[bn]
        if f"{key} train" not in by:
            continue
        ax.plot(*zip(*by[f"{key} train"]), color=color, linestyle="--", label=f"{label} train")
        steps, test = zip(*by[f"{key} test"])
        best = [y for _, y in by[f"{key} best test"]]
        ax.plot(steps, test, color=color, label=f"{label} test")
        ax.fill_between(steps, test, best, color=color, alpha=0.25, label=f"{label}: best test so far - test")
        paper_test = (
            next(
                r.test_accuracy
                for r in paper.TABLE1
                if r.model == MODEL and r.batch_norm == bn and not (r.random_crop or r.weight_decay or r.random_labels)
            )
            / 100
        )
        ax.axhline(paper_test, color=color, linestyle=":", linewidth=1, label=f"{label}: paper's test (CIFAR-10)")
    ax.set(
        xlabel="step",
        ylabel="accuracy",
        ylim=(0.0, 1.02),
        title="Figure 2b: train (running, per epoch) and test accuracy;\n"
        "shaded: what early stopping at the best test accuracy would gain",
    )
    ax.legend(fontsize=7, loc="lower right")
    plots.save(fig, path)


def summary(rows: list[tuple[str, str, float, float]]) -> str:
    """Per model: the last and the best test accuracy of the curve (the --curve_test_size test images), and
    the steps of each."""
    by = {name: points for (_, name), points in plots.group(rows).items()}
    cells = []
    for bn in (True, False):
        key = config_lib.model_key(MODEL, bn)
        if f"{key} test" not in by:
            continue
        (last_step, last), (best_step, best) = (
            by[f"{key} test"][-1],
            max(by[f"{key} test"], key=lambda p: (p[1], -p[0])),
        )
        cells.append(
            [
                models.paper_name(MODEL, bn),
                f"{by[f'{key} train'][-1][1]:.2%}",
                f"{last:.2%}",
                f"{best:.2%}",
                f"{best_step:g}",
                f"{last_step:g}",
            ]
        )
    return tables.markdown(
        ["model", "last train (running)", "last test", "best test", "best at step", "steps"], cells, "lrrrrr"
    )


def report(results_dir: str) -> str:
    """figure2.png, figure2.csv and figure2.md in results_dir, from its records; returns the Markdown."""
    recs = records.load_all(results_dir)
    rows = series(recs)
    text = plots.write_figure(results_dir, "figure2", rows, draw, summary(rows), runs=recs)
    return f"{text}\nfigure: {os.path.join(results_dir, 'figure2.png')}"


EXPERIMENT = runner.Experiment("figure2", report, runs=grid, subdir="figure2")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
