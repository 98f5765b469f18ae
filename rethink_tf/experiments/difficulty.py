"""Per-example difficulty (Arpit et al. 2017, §3.1): S runs of one epoch that differ only in --run_seed, each
training example's count of runs that misclassify it, and the dispersion test of those counts against the binomial
with the mean rate, for true labels, random labels and noise inputs.

`python -m rethink_tf.experiments.difficulty --preset=laptop --results_dir=results/laptop/memorization` trains,
per model (--difficulty_models) and condition (--difficulty_conditions), --difficulty_runs runs of one epoch on
--difficulty_train_size examples, no explicit regularizer, each keeping its ledger and record only (no weights, no
measures); then writes difficulty.md and difficulty.csv (the dispersion table beside what Arpit et al. report),
difficulty.png (per model and condition, the histogram of counts against the binomial's), difficulty_hist.csv (its
series) and difficulty_examples.csv (every example's count), from the records and ledgers alone
(rethink_tf.dispersion). docs/difficulty.md has the sizes' reasons and the laptop results.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

import numpy as np

from rethink_tf import atomic, dispersion, ledger, models, plots, records, runs, tables
from rethink_tf import config as config_lib
from rethink_tf.errors import BadInput
from rethink_tf.experiments import runner

TAG = "difficulty"
MODELS = ("mlp_1x512", "alexnet_small")
# The conditions a run can be in: the corruption of Section 2.1 that makes it (corrupt = 0 for each), and how the
# report names it. gaussian is Arpit et al.'s randX (noise inputs with the data's mean and variance, true labels).
CONDITIONS = {
    "true_labels": "true labels",
    "random_labels": "random labels (randY)",
    "gaussian": "Gaussian inputs (randX)",
    "random_pixels": "random pixels",
    "shuffled_pixels": "shuffled pixels",
}
DEFAULT_CONDITIONS = ("true_labels", "random_labels", "gaussian", "random_pixels")
# What Arpit et al. report for each condition (../shared/FOLLOWUPS.md: real data over-dispersed, randX binomial).
ARPIT = {
    "true_labels": "over-dispersed: some examples hard for every run (real MNIST, CIFAR-10)",
    "gaussian": "binomial with the mean rate (randX)",
    "random_pixels": "binomial for their noise inputs (randX); random pixels are Zhang et al.'s, not theirs",
    "shuffled_pixels": "binomial for their noise inputs (randX); shuffled pixels are Zhang et al.'s, not theirs",
    "random_labels": "none noted for randY in §3.1",
}
# The runs' test set: the difficulty test reads training examples only; a run's final test accuracy on this many
# stratified test images still says how far one epoch got, at a tenth of the laptop's 10,000 (docs/difficulty.md).
TEST_SIZE = 1000
# The verdict: "over-dispersed" where the within-class permutation test's p_over is below ALPHA, "under-dispersed"
# where its p_under is, else "binomial"; DRAWS shuffles give p-values down to 1 / (DRAWS + 1) = 0.001, seeded so that a
# report is rebuilt bit for bit. The chi-square p-values stand beside them, as Arpit et al.'s reading would take them.
ALPHA = 0.01
DRAWS = 999
ROW_FIELDS = (
    "model", "condition", "train_examples", "steps_per_epoch", "runs", "mean_error", "statistic", "dof", "ratio",
    "p_over", "p_under", "class_null_ratio", "class_p_over", "class_p_under", "always_wrong", "expected_always_wrong",
    "never_wrong", "expected_never_wrong", "verdict", "arpit", "wall_s_per_run", "test_accuracy",
)  # fmt: skip
EXAMPLE_FIELDS = ("model", "condition", "train_examples", "runs", "index", "label", "true_label", "wrong")


class DifficultyError(BadInput, ValueError):
    """Runs of one difficulty cell whose ledgers disagree on the examples."""


@dataclasses.dataclass(frozen=True)
class Options:
    """The difficulty experiment's own flags (rethink_tf.cli.define_options), the keyword arguments of grid."""

    difficulty_runs: int = config_lib.setting(
        100,
        "Difficulty: runs S per model and condition, one epoch each, differing only in --run_seed (1..S); "
        "Arpit et al.'s 100; the laptop's 20 and why: docs/difficulty.md.",
        lower_bound=2,
    )
    difficulty_train_size: int = config_lib.setting(
        0,
        "Difficulty: training examples of each one-epoch run (a class-stratified subset, as --train_size); 0 = "
        "--train_size. One epoch of the laptop preset's 400 is 13 steps (docs/difficulty.md).",
        lower_bound=0,
    )
    difficulty_models: tuple[str, ...] = config_lib.setting(
        MODELS, "Difficulty: the architectures (repeat the flag for each), batch norm on.", choices="models"
    )
    difficulty_conditions: tuple[str, ...] = config_lib.setting(
        DEFAULT_CONDITIONS,
        "Difficulty: the conditions (repeat the flag for each): true labels, random labels, or inputs replaced by "
        "noise (gaussian: Arpit et al.'s randX), each a --corruption.",
        choices=tuple(CONDITIONS),
    )


def run_config(
    base: config_lib.RunConfig, model: str, condition: str, run_seed: int, train_size: int = 0
) -> config_lib.RunConfig:
    """One run of the test: one epoch of `model` in `condition` from the weights and order of `run_seed` (the data
    and its labels stay --seed's), no explicit regularizer, on `train_size` examples (0: the base's), its ledger
    and record kept, nothing else; named difficulty-n<examples>-... so it never takes another experiment's run
    directory."""
    test_size = min(base.test_size or TEST_SIZE, TEST_SIZE)
    cfg = runs.unregularized(
        base,
        model=model,
        batch_norm=True,
        corruption=condition,
        corrupt=0.0,
        train_size=train_size or base.train_size,
        test_size=test_size,
        curve_test_size=base.curve_test_size if base.curve_test_size < test_size else 0,
        epochs=1,
        crop_epochs=0,
        random_label_epochs=0,
        stop_when_fit=False,
        train_fraction=1.0,
        run_seed=run_seed,
        ledger=True,
        measures=False,
        save_weights=False,
        csr_every=0,  # hundreds of one-epoch runs: the critical sample ratio's search would cost more than they do
        tag=TAG,
    )
    size = f"n{cfg.train_size}" if cfg.train_size else "all"
    return dataclasses.replace(cfg, run_name=f"difficulty-{size}-{config_lib.default_run_name(cfg)}")


def grid(
    base: config_lib.RunConfig,
    difficulty_runs: int = Options.difficulty_runs,
    difficulty_train_size: int = Options.difficulty_train_size,
    difficulty_models: tuple[str, ...] = MODELS,
    difficulty_conditions: tuple[str, ...] = DEFAULT_CONDITIONS,
) -> runner.Runs:
    """The runs, labelled for the progress lines: run seed by run seed, so that an experiment stopped early has
    its first runs of every model and condition."""
    unknown = sorted(set(difficulty_conditions) - set(CONDITIONS))
    if unknown:
        raise config_lib.ConfigError(
            f"--difficulty_conditions: no condition {', '.join(unknown)}; one of {', '.join(CONDITIONS)}"
        )
    if difficulty_runs < 2:
        raise config_lib.ConfigError(
            f"--difficulty_runs={difficulty_runs}: the dispersion test needs at least 2 runs (Arpit et al. used 100)"
        )
    wanted = [
        (k, m, c)
        for k in range(1, difficulty_runs + 1)
        for m in dict.fromkeys(difficulty_models)
        for c in dict.fromkeys(difficulty_conditions)
    ]
    n = len(wanted)
    return [
        (
            f"[difficulty {i + 1}/{n} {models.paper_name(m)}, {CONDITIONS[c]}, run {k}/{difficulty_runs}]",
            run_config(base, m, c, k, difficulty_train_size),
        )
        for i, (k, m, c) in enumerate(wanted)
    ]


@dataclasses.dataclass
class Cell:
    """The runs of one model and condition on one training set (differing in --run_seed alone) and their test."""

    model: str
    condition: str
    train_examples: int
    steps_per_epoch: int
    names: list[str]
    index: np.ndarray  # canonical index of each example
    label: np.ndarray  # the label trained on
    true_label: np.ndarray
    wrong: np.ndarray  # bool [runs, examples]: misclassified at the end of the one epoch
    test: dispersion.Dispersion
    within_class: dispersion.Permutation  # the same X against each run's errors shuffled within each given label
    wall_s: float  # mean per run
    test_accuracy: float | None  # mean over runs of the final test accuracy

    @property
    def counts(self) -> np.ndarray:
        return self.wrong.sum(axis=0)


def _is_mine(r: records.RunRecord) -> bool:
    return r.finished and r.config.tag == TAG


def _identity(r: records.RunRecord) -> str:
    """What the runs of one cell share: the record's experiment block but the run seed."""
    return json.dumps({k: v for k, v in r["experiment"].items() if k != "run_seed"}, sort_keys=True)


def _cell(results_dir: str, recs: list[records.RunRecord]) -> Cell | None:
    """The cell of one group of runs (those with a ledger; None with fewer than 2)."""
    pairs = [
        (r, ledger.load(os.path.join(results_dir, r.run_name))) for r in sorted(recs, key=lambda r: r.config.run_seed)
    ]
    pairs = [(r, led) for r, led in pairs if led is not None and len(led.epochs)]
    if len(pairs) < 2:
        return None
    first = pairs[0][1].train
    for r, led in pairs[1:]:
        part = led.train
        if not (np.array_equal(part.index, first.index) and np.array_equal(part.label, first.label)):
            raise DifficultyError(
                f"{os.path.join(results_dir, r.run_name)}: its ledger holds other examples or labels than "
                f"{pairs[0][0].run_name}'s, though their configs differ only in --run_seed; move one of them away"
            )
    wrong = np.stack([~led.train.correct[-1] for _, led in pairs])
    rec, cfg = pairs[0][0], pairs[0][0].config
    finals = [r.final.test_accuracy for r, _ in pairs if r.final]
    return Cell(
        model=cfg.model,
        condition=cfg.corruption,
        train_examples=int(rec["data"]["train_examples"]),
        steps_per_epoch=rec.steps_per_epoch,
        names=[r.run_name for r, _ in pairs],
        index=first.index,
        label=first.label,
        true_label=first.true_label,
        wrong=wrong,
        test=dispersion.test(wrong),
        within_class=dispersion.permutation_test(wrong, first.label, draws=DRAWS),
        wall_s=float(np.mean([r["wall_time_s"] for r, _ in pairs])),
        test_accuracy=float(np.mean(finals)) if finals else None,
    )


def cells(results_dir: str) -> list[Cell]:
    """Every cell of finished difficulty runs with ledgers in results_dir (at least 2 runs), by model, condition
    and training-set size."""
    by: dict[str, list[records.RunRecord]] = {}
    for r in records.load_all(results_dir):
        if _is_mine(r):
            by.setdefault(_identity(r), []).append(r)
    out = [c for c in (_cell(results_dir, recs) for recs in by.values()) if c is not None]
    order = list(CONDITIONS)
    return sorted(out, key=lambda c: (c.model, c.train_examples, order.index(c.condition)))


def verdict(test: dispersion.Dispersion | dispersion.Permutation) -> str:
    """What a test says at ALPHA: over-dispersed (some examples harder than others), under-dispersed, binomial."""
    if math.isnan(test.p_over):
        return "no test (every example alike)"
    if test.p_over < ALPHA:
        return "over-dispersed"
    if test.p_under < ALPHA:
        return "under-dispersed"
    return "binomial"


def p_text(p: float) -> str:
    """A p-value for the table: two significant digits, or the float's floor where it underflows."""
    if math.isnan(p):
        return "–"
    return "< 1e-300" if p < 1e-300 else f"{p:.2g}"


def row(cell: Cell) -> dict[str, Any]:
    t, w = cell.test, cell.within_class
    return {
        "model": cell.model,
        "condition": cell.condition,
        "train_examples": cell.train_examples,
        "steps_per_epoch": cell.steps_per_epoch,
        "runs": t.runs,
        "mean_error": t.rate,
        "statistic": t.statistic,
        "dof": t.dof,
        "ratio": t.ratio,
        "p_over": t.p_over,
        "p_under": t.p_under,
        "class_null_ratio": w.null_ratio,
        "class_p_over": w.p_over,
        "class_p_under": w.p_under,
        "always_wrong": t.always_wrong,
        "expected_always_wrong": t.expected_always_wrong,
        "never_wrong": t.never_wrong,
        "expected_never_wrong": t.expected_never_wrong,
        "verdict": verdict(w),
        "arpit": ARPIT[cell.condition],
        "wall_s_per_run": cell.wall_s,
        "test_accuracy": cell.test_accuracy,
    }


def _share(observed: float, expected: float) -> str:
    """An observed share of examples beside the binomial's (two significant digits: it can be 1e-30)."""
    return f"{observed:.1%} ({100 * expected:.2g}%)"


def table(found: list[Cell]) -> str:
    cells_md = []
    for c in found:
        t, w = c.test, c.within_class
        cells_md.append(
            [
                models.paper_name(c.model),
                CONDITIONS[c.condition],
                c.train_examples,
                c.steps_per_epoch,
                t.runs,
                f"{t.rate:.3f}",
                tables.fmt(None if math.isnan(t.ratio) else t.ratio),
                p_text(t.p_over),
                tables.fmt(None if math.isnan(w.null_ratio) else w.null_ratio),
                p_text(w.p_over),
                _share(t.always_wrong, t.expected_always_wrong),
                _share(t.never_wrong, t.expected_never_wrong),
                verdict(w),
                ARPIT[c.condition],
                tables.fmt(c.wall_s, 1),
            ]
        )
    return tables.markdown(
        [
            "model",
            "condition",
            "N",
            "steps",
            "runs S",
            "mean error q",
            "X/(N-1)",
            "p, chi2",
            "X/(N-1), shuffled in class",
            "p, shuffled in class",
            "wrong in every run (binomial)",
            "in none (binomial)",
            "ours",
            "Arpit et al.",
            "s/run",
        ],
        cells_md,
        "llrrrrrrrrrrllr",
    )


def _panel(c: Cell) -> str:
    return f"{models.paper_name(c.model)}, {CONDITIONS[c.condition]}, N = {c.train_examples}"


def series(found: list[Cell]) -> list[tuple[str, str, float, float]]:
    """(panel, series, k, examples) rows: per cell the observed histogram of counts and the binomial's."""
    rows = []
    for c in found:
        t = c.test
        observed = dispersion.histogram(c.counts, t.runs)
        expected = dispersion.expected_histogram(t.examples, t.runs, t.rate)
        rows += [(_panel(c), "observed", k, float(v)) for k, v in enumerate(observed)]
        rows += [(_panel(c), "binomial", k, float(v)) for k, v in enumerate(expected)]
    return rows


def draw(found: list[Cell], path: str) -> None:
    """One panel per model and condition (a row per model): the histogram of counts, the binomial's over it."""
    columns = len({c.condition for c in found}) or 1
    fig, axes = plots.new_figure(len(found), width=4.0, height=3.4, columns=columns)
    for ax, c in zip(axes, found, strict=True):
        t = c.test
        k = np.arange(t.runs + 1)
        ax.bar(k, dispersion.histogram(c.counts, t.runs), width=0.9, color="C0", alpha=0.7, label="observed")
        ax.plot(k, dispersion.expected_histogram(t.examples, t.runs, t.rate), "o-", color="C3", ms=3, label="binomial")
        w = c.within_class
        ratio = "–" if math.isnan(t.ratio) else f"{t.ratio:.2f}"
        null = "–" if math.isnan(w.null_ratio) else f"{w.null_ratio:.2f}"
        ax.set_title(
            f"{_panel(c)}\nX/(N-1) = {ratio}, shuffled in class {null}\n"
            f"p: chi2 {p_text(t.p_over)}, shuffled in class {p_text(w.p_over)}",
            fontsize=8,
        )
        ax.set_xlabel(f"runs (of {t.runs}) misclassifying an example", fontsize=8)
        ax.set_ylabel("examples", fontsize=8)
        ax.legend(fontsize=7)
    plots.save(fig, path)


def example_rows(found: list[Cell]) -> list[dict[str, Any]]:
    return [
        {
            "model": c.model,
            "condition": c.condition,
            "train_examples": c.train_examples,
            "runs": c.test.runs,
            "index": int(i),
            "label": int(y),
            "true_label": int(t),
            "wrong": int(w),
        }
        for c in found
        for i, y, t, w in zip(c.index, c.label, c.true_label, c.counts, strict=True)
    ]


def report(results_dir: str) -> str:
    """difficulty.md, difficulty.csv, difficulty.png, difficulty_hist.csv and difficulty_examples.csv in
    results_dir, from its difficulty runs' records and ledgers; returns the Markdown."""
    recs = [r for r in records.load_all(results_dir) if _is_mine(r)]
    found = cells(results_dir)
    setups = sorted({(c.dataset, c.batch_size, c.learning_rate) for c in (r.config for r in recs)}, key=str)
    lines = [
        "# Per-example difficulty (Arpit et al. 2017, §3.1): misclassification counts over S one-epoch runs against "
        "the binomial",
        "",
    ]
    lines += [
        f"- {dataset}, batch {batch}, learning rate {lr:g}, one epoch, no explicit regularizer; the runs of a row "
        "differ only in --run_seed (initial weights and order), the data and labels staying --seed's"
        for dataset, batch, lr in setups
    ]
    lines += [
        "- count c of an example: the runs whose model misclassifies it (under the label it trained on) at the "
        "epoch's end (the run's ledger); q its mean over examples and runs",
        "- X = sum (c - S q)^2 / (S q (1 - q)), about chi-square with N - 1 degrees of freedom if every example "
        "were equally hard and the counts independent: X/(N-1) is 1 for binomial counts, > 1 over-dispersed; "
        "p, chi2 = P[chi2 >= X] (Arpit et al.'s reading)",
        f"- shuffled in class: X against {DRAWS} draws in which each run's misclassifications are shuffled among the "
        "examples of each label (each run keeps its errors per class, so a run that predicts one class for every "
        "input explains nothing): the mean X/(N-1) of the draws and the share at least as large, p; ours: "
        f"over-dispersed where it is below {ALPHA:g}, under-dispersed where the share at most as large is, else "
        "binomial",
        "- wrong in every run / in none: the share of examples, beside the binomial's q^S and (1 - q)^S",
        "",
    ]
    text = "\n".join(lines) + "\n" + (table(found) if found else "No finished difficulty runs with ledgers yet.\n")
    rows = [row(c) for c in found]
    os.makedirs(results_dir, exist_ok=True)
    if found:
        plots.write_series(os.path.join(results_dir, "difficulty_hist.csv"), series(found))
        atomic.write_text(
            os.path.join(results_dir, "difficulty_examples.csv"), tables.csv_text(example_rows(found), EXAMPLE_FIELDS)
        )
        draw(found, os.path.join(results_dir, "difficulty.png"))
        text += f"\nfigure: {os.path.join(results_dir, 'difficulty.png')}\n"
    return tables.write(results_dir, "difficulty", text, rows, fields=ROW_FIELDS, runs=recs)


EXPERIMENT = runner.Experiment("difficulty", report, runs=grid, options=Options, subdir="memorization")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
