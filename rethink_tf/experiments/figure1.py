"""Figure 1: (a) Inception's training loss under each randomization test, (b) the time to overfit and
(c) the test error of Inception, AlexNet and MLP 1x512 as the label corruption p grows.

`python -m rethink_tf.experiments.figure1 --preset=laptop --results_dir=results/laptop` trains every run
without a finished record, then draws figure1.png (and figure1.csv, its series) from the records alone.
The runs are Table 1's kind (no explicit regularizer, the preset's stop at 100% training accuracy), so the
true- and random-label runs of a results dir are shared with Table 1; a run on corrupted data gets the
random-label epoch budget. "Time to overfit" is the steps until the first epoch at 100% training accuracy.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, paper, plots, records, runs, tables
from rethink_tf.data import corrupt
from rethink_tf.experiments import runner

PANEL_A_MODEL = "inception_small"
PANEL_A_CORRUPTIONS = ("true_labels", "random_labels", "shuffled_pixels", "random_pixels", "gaussian")
SWEEP_MODELS = ("inception_small", "alexnet_small", "mlp_1x512")
LEVELS = tuple(k / 10 for k in range(11))
COLORS = {
    "inception_small": "C0",
    "alexnet_small": "C1",
    "mlp_1x512": "C2",
    "true_labels": "C0",
    "random_labels": "C3",
    "shuffled_pixels": "C1",
    "random_pixels": "C4",
    "gaussian": "C2",
}


def run_config(
    base: config_lib.RunConfig, model: str, corruption: str = "true_labels", p: float = 0.0
) -> config_lib.RunConfig:
    """One run of the figure: no explicit regularizer. p = 1 is the random-labels run (the same labels), so
    panels (a) and (b) share it, as they share p = 0 (true labels); a run on corrupted labels or pixels gets
    the random-label epoch budget (it fits more slowly, Figure 1's point)."""
    if corruption == "true_labels" and p == 1.0:
        corruption, p = "random_labels", 0.0
    randomized = corruption in corrupt.INPUT_CORRUPTIONS or 0.0 < p < 1.0  # random labels have their own budget
    return runs.unregularized(
        base,
        model=model,
        batch_norm=True,
        corruption=corruption,
        corrupt=p,
        epochs=(base.random_label_epochs or base.epochs) if randomized else base.epochs,
    )


def grid(base: config_lib.RunConfig, corrupt_levels: tuple[float, ...] = LEVELS) -> runner.Runs:
    """The figure's runs, each once, labelled for the progress lines: panel (a)'s first, then the sweep."""
    levels = tuple(sorted(set(corrupt_levels)))
    if 0.0 not in levels:
        raise config_lib.ConfigError(
            f"--corrupt_levels={','.join(f'{p:g}' for p in levels)} needs 0: panel (b) is relative to the time at p = 0"
        )
    wanted = [
        (f"{models.paper_name(PANEL_A_MODEL, True)}, {c}", run_config(base, PANEL_A_MODEL, c, 0.0))
        for c in PANEL_A_CORRUPTIONS
    ]
    wanted += [
        (f"{models.paper_name(m, True)}, p = {p:g}", run_config(base, m, "true_labels", p))
        for m in SWEEP_MODELS
        for p in levels
    ]
    out, seen = [], set()
    for label, cfg in wanted:
        if cfg.run_dir not in seen:
            seen.add(cfg.run_dir)
            out.append((label, cfg))
    return [(f"[figure 1 {i + 1}/{len(out)} {label}]", cfg) for i, (label, cfg) in enumerate(out)]


def _unregularized(r: records.RunRecord) -> bool:
    return r.config.batch_norm and not r.regularizers


def _level(r: records.RunRecord) -> float | None:
    """A sweep run's label noise p (random labels: 1), None for a run of another corruption."""
    return r.label_noise if r.config.corruption in ("true_labels", "random_labels") else None


def series(recs: list[dict[str, Any]]) -> list[tuple[str, str, float, float]]:
    """The figure's data from finished run records (the lowest seed of each run): (panel, series, x, y) rows.
    a: training loss ("<corruption>") and running accuracy ("<corruption> accuracy") vs step; b: steps to 100%
    training accuracy relative to p = 0 (nan: not fitted within the budget); c: test error vs p, and "chance",
    1 - 1 / classes; d (in the CSV, not drawn), for 0 < p < 1: final training accuracy on the kept labels
    ("<model> kept"), on the changed ones ("<model> changed") and on those against their true label
    ("<model> changed vs true"), for records that have them (rethink_tf 0.4 on)."""
    done = [r for r in recs if r.finished and _unregularized(r)]
    rows, num_classes = [], None
    for corruption in PANEL_A_CORRUPTIONS:
        mine = records.lowest_seed(
            [
                r
                for r in done
                if r.config.model == PANEL_A_MODEL and r.config.corruption == corruption and r.config.corrupt == 0
            ]
        )
        if mine:
            rows += [("a", corruption, step, loss) for step, loss in plots.curve(mine[0], "loss")]
            rows += [("a", f"{corruption} accuracy", step, acc) for step, acc in plots.curve(mine[0], "accuracy")]
    levels = set()
    for model in SWEEP_MODELS:
        sweep = records.lowest_seed([r for r in done if r.config.model == model and _level(r) is not None])
        recs_by_p = {_level(r): r for r in sweep}
        base_fit = recs_by_p.get(0.0) and recs_by_p[0.0]["final"]["fit_epoch"]
        for p in sorted(recs_by_p):
            rec = recs_by_p[p]
            fit = rec["final"]["fit_epoch"]
            rows.append(("b", model, p, fit / base_fit if fit and base_fit else math.nan))
            rows.append(("c", model, p, 1.0 - rec["final"]["test_accuracy"]))
            for key, name in (("kept", "kept"), ("changed", "changed"), ("changed_true", "changed vs true")):
                if f"train_{key}_accuracy" in rec["final"]:
                    rows.append(("d", f"{model} {name}", p, rec["final"][f"train_{key}_accuracy"]))
            num_classes = rec["data"]["num_classes"]
            levels.add(p)
    if num_classes:
        rows += [("c", "chance", p, 1.0 - 1.0 / num_classes) for p in (min(levels), max(levels))]
    return rows


def draw(rows: list[tuple[str, str, float, float]], path: str) -> None:
    """The three panels, with the paper's reference values on the same axes."""
    fig, (ax_a, ax_b, ax_c) = plots.new_figure(3)
    by = plots.group(rows)

    def fit_step(corruption):
        return next((x for x, y in by.get(("a", f"{corruption} accuracy"), []) if y >= 1.0), None)

    ours_true, paper_true = fit_step("true_labels"), paper.FIGURE1A_STEPS_BELOW_LOSS_001["true_labels"]
    for corruption in PANEL_A_CORRUPTIONS:
        points = by.get(("a", corruption), [])
        if not points:
            continue
        color = COLORS[corruption]
        ax_a.plot(*zip(*points), color=color, label=corruption.replace("_", " "))
        fit = fit_step(corruption)
        if fit is not None:
            ax_a.plot([fit], [dict(points)[fit]], "o", color=color)
        if ours_true:
            ax_a.axvline(
                paper.FIGURE1A_STEPS_BELOW_LOSS_001[corruption] / paper_true * ours_true,
                color=color,
                linestyle=":",
                linewidth=1.2,
            )
    ax_a.set_yscale("log")
    ax_a.set(
        xlabel="step",
        ylabel="average training loss (epoch)",
        title=f"(a) {models.paper_name(PANEL_A_MODEL, True)}; o: first epoch at 100% training accuracy\n"
        "dotted: the paper's step to loss < 0.01, x ours/paper on true labels",
    )
    ax_a.legend(fontsize=8)

    for model in SWEEP_MODELS:
        color, name = COLORS[model], models.paper_name(model, True)
        points = sorted(by.get(("b", model), []))
        fitted = [(x, y) for x, y in points if not math.isnan(y)]
        if fitted:
            ax_b.plot(*zip(*fitted), "o-", color=color, label=name)
        for x, _ in (pt for pt in points if math.isnan(pt[1])):
            ax_b.annotate("not fitted", (x, 1.0), color=color, fontsize=7, rotation=90)  # within the epoch budget
        ax_b.plot([1.0], [paper.FIGURE1B_SLOWDOWN_AT_P1[model]], "*", color=color, markersize=12, markeredgecolor="k")
        points = sorted(by.get(("c", model), []))
        if points:
            ax_c.plot(*zip(*points), "o-", color=color, label=name)
        ax_c.plot(
            [0.0, 1.0],
            [paper.FIGURE1C_TEST_ERROR_AT_P0[model], paper.FIGURE1C_TEST_ERROR_AT_P1],
            "*",
            color=color,
            markersize=12,
            markeredgecolor="k",
        )
    ax_b.set_xlim(-0.05, 1.05)
    ax_b.set(
        xlabel="label corruption p",
        ylabel="time to overfit / time at p = 0",
        title="(b) time to overfit = steps until an epoch\nat 100% training accuracy; * paper at p = 1",
    )
    ax_b.legend(fontsize=8)
    if ("c", "chance") in by:
        ax_c.plot(*zip(*by[("c", "chance")]), color="gray", linestyle="--", linewidth=1, label="chance")
    ax_c.set(
        xlabel="label corruption p",
        ylabel="test error",
        ylim=(0.0, 1.0),
        title="(c) test error (whole test set); * paper (CIFAR-10)",
    )
    ax_c.legend(fontsize=8)
    plots.save(fig, path)


def summary(rows: list[tuple[str, str, float, float]]) -> str:
    """Panels (b) and (c) as a Markdown table: one row per p, relative time to overfit / test error per model."""
    values = {(panel, name, x): y for panel, name, x, y in rows if panel in "bc" and name in SWEEP_MODELS}
    levels = sorted({x for panel, _, x in values})
    cells = []
    for p in levels:
        row = [f"{p:g}"]
        for m in SWEEP_MODELS:
            b, c = values.get(("b", m, p)), values.get(("c", m, p))
            row.append("–" if c is None else f"{'not fitted' if math.isnan(b) else f'{b:.2f}x'} / {c:.3f}")
        cells.append(row)
    header = ["p"] + [f"{models.paper_name(m, True)} time / test error" for m in SWEEP_MODELS]
    return tables.markdown(header, cells, "r" * len(header))


def report(results_dir: str) -> str:
    """figure1.png, figure1.csv and figure1.md in results_dir, from its records; returns the Markdown."""
    recs = records.load_all(results_dir)
    rows = series(recs)
    text = plots.write_figure(results_dir, "figure1", rows, draw, summary(rows), runs=recs)
    return f"{text}\nfigure: {os.path.join(results_dir, 'figure1.png')}"


@dataclasses.dataclass(frozen=True)
class Options:
    """Figure 1's own flag (rethink_tf.cli.define_options), the keyword argument of grid."""

    corrupt_levels: tuple[float, ...] = config_lib.setting(
        LEVELS,
        "Figure 1 (b, c): the label corruption levels p of the sweep (repeat the flag for each; 0 is needed).",
        lower_bound=0.0,
        upper_bound=1.0,
    )


EXPERIMENT = runner.Experiment("figure1", report, runs=grid, options=Options)

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
