"""What stops memorization (Arpit et al. 2017, §5, their Figure 10): for each regularizer and strength, a run on
random labels and a run on true labels, the first's final training accuracy (how much noise it memorized) against
the second's best test accuracy (how well it still learns real data), beside the paper's Table 4 regularizers.

`python -m rethink_tf.experiments.regularizers --preset=laptop --results_dir=results/laptop/regularizers` trains
every run without a finished record (MLP 1x512 and AlexNet-small by default; each regularizer at the STRENGTHS
below, one at a time, the rest off; every run the same epoch budget, --regularizer_epochs, with the preset's stop
at 100% training accuracy; records and ledgers kept, no weights or measures), then writes regularizers.md, .csv
and .png from the records alone. Arpit et al.'s finding: dropout (and dropout with adversarial training) keeps
the random labels from being fitted while the test accuracy on real data holds, a flat curve; weight decay does
not. The grid also trains one unregularized run per model at label noise p = 0.8 (randY), whose best test
accuracy Arpit et al. see before the training set is fitted (their Figures 7b, 8b). Laptop cost:
docs/results-laptop.md ("What stops memorization").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, plots, records, runs, tables
from rethink_tf.experiments import runner

TAG = "regularizers"
# Each regularizer's strengths (Arpit et al.'s §5 ranges: dropout and input dropout 0-0.9, Gaussian input noise
# sd 0-5, hidden-activation noise sd 0-0.3, weight decay 0-1, adversarial weight 0.2-0.7 with dropout), three
# apiece to fit the laptop's hour; the paper's Table 4 crop and augmentation are on or off.
STRENGTHS: dict[str, tuple[float, ...]] = {
    "dropout": (0.25, 0.5, 0.75),
    "input_dropout": (0.25, 0.5, 0.75),
    "input_noise": (0.5, 1.0, 2.0),
    "hidden_noise": (0.1, 0.2, 0.3),
    "weight_decay": (1e-3, 1e-2, 1e-1),
    "adversarial": (0.2, 0.45, 0.7),
    "random_crop": (1.0,),
    "augment": (1.0,),
}
# Adversarial training runs with dropout, as Arpit et al.'s "dropout + adversarial training".
ADVERSARIAL_DROPOUT = 0.5
RANDY = 0.8  # the label noise of the run whose best test accuracy comes before the fit
LABELS = {
    "none": "none",
    "dropout": "dropout (rate)",
    "input_dropout": "input dropout (rate)",
    "input_noise": "input noise (sd)",
    "hidden_noise": "hidden noise (sd)",
    "weight_decay": "weight decay (coefficient)",
    "adversarial": f"dropout {ADVERSARIAL_DROPOUT:g} + adversarial (weight)",
    "random_crop": "random crop (Table 4)",
    "augment": "augmentation (Table 4)",
}
MODELS = ("mlp_1x512", "alexnet_small")


def regularized(regularizer: str, strength: float) -> dict[str, Any]:
    """The config changes of one regularizer at one strength ("none": every one off)."""
    if regularizer == "none":
        return {}
    if regularizer in ("random_crop", "augment"):
        return {regularizer: True}
    if regularizer == "adversarial":
        return {"adversarial": strength, "dropout": ADVERSARIAL_DROPOUT}
    return {regularizer: strength}


def run_config(
    base: config_lib.RunConfig, model: str, regularizer: str, strength: float, labels: str, epochs: int
) -> config_lib.RunConfig:
    """One run: `labels` "random" (every label random), "true" or "randy" (label noise RANDY), the one regularizer
    on, the others off, `epochs` the budget of every run (0: the base's --epochs)."""
    corruption, corrupt = {"random": ("random_labels", 0.0), "true": ("true_labels", 0.0)}.get(
        labels, ("true_labels", RANDY)
    )
    return runs.unregularized(
        base,
        model=model,
        batch_norm=True,
        corruption=corruption,
        corrupt=corrupt,
        epochs=epochs or base.epochs,
        crop_epochs=0,
        random_label_epochs=0,
        tag=TAG,
        measures=False,  # not needed here, and as costly as an AlexNet run's training (docs/measures.md)
        save_weights=False,  # 86 laptop runs: their records and ledgers, not 0.5 GB of weights
        csr_every=0,  # the critical sample ratio's curves under noise are their own runs (#44 item 5)
        **regularized(regularizer, strength),
    )


def settings(regularizers: tuple[str, ...]) -> list[tuple[str, float]]:
    return [("none", 0.0)] + [(r, s) for r in regularizers for s in STRENGTHS[r]]


def grid(
    base: config_lib.RunConfig,
    regularizer_models: tuple[str, ...] = MODELS,
    regularizer_names: tuple[str, ...] = tuple(STRENGTHS),
    regularizer_epochs: int = 0,
) -> runner.Runs:
    """Per model, per setting: the random-label run and the true-label run; then each model's randY run."""
    wanted = []
    for model in regularizer_models:
        name = models.paper_name(model, True)
        for regularizer, strength in settings(regularizer_names):
            for labels in ("random", "true"):
                cfg = run_config(base, model, regularizer, strength, labels, regularizer_epochs)
                wanted.append((f"{name}, {LABELS[regularizer]} {strength:g}, {labels} labels", cfg))
        wanted.append((f"{name}, p = {RANDY:g}", run_config(base, model, "none", 0.0, "randy", regularizer_epochs)))
    return [(f"[regularizers {i + 1}/{len(wanted)} {label}]", cfg) for i, (label, cfg) in enumerate(wanted)]


def which(config: config_lib.RunConfig) -> tuple[str, float] | None:
    """(regularizer, strength) of a run of this experiment's kind, None for another run."""
    on = sorted(config.regularizers)
    if not on:
        return "none", 0.0
    if on == ["adversarial", "dropout"] and config.dropout == ADVERSARIAL_DROPOUT:
        return "adversarial", config.adversarial
    if len(on) != 1:
        return None
    name = on[0]
    return name, 1.0 if name in ("random_crop", "augment") else float(getattr(config, name))


def _labels(r: records.RunRecord) -> str | None:
    c = r.config
    if c.corruption == "random_labels":
        return "random"
    if c.corruption == "true_labels":
        return {0.0: "true", RANDY: "randy"}.get(c.corrupt)
    return None


def best_test(r: records.RunRecord) -> tuple[float, int] | tuple[float, None]:
    """The best curve-test accuracy over the evaluated epochs, and its epoch."""
    rows = [(row["val_accuracy"], row["epoch"]) for row in r.epochs if "val_accuracy" in row]
    return max(rows, key=lambda t: (t[0], -t[1])) if rows else (math.nan, None)


def rows(recs: list[records.RunRecord]) -> list[dict[str, Any]]:
    """One dict per model and setting, from the finished runs of this experiment's kind (lowest seed)."""
    pairs: dict[tuple[str, str, float], dict[str, records.RunRecord]] = {}
    for r in records.lowest_seed([r for r in recs if r.finished and r.config.batch_norm]):
        setting, labels = which(r.config), _labels(r)
        if setting and labels in ("random", "true") and r.config.tag == TAG:
            pairs.setdefault((r.config.model, *setting), {})[labels] = r
    out = []
    for (model, regularizer, strength), by in sorted(pairs.items(), key=lambda kv: _order(kv[0])):
        noise, real = by.get("random"), by.get("true")
        best, best_epoch = best_test(real) if real else (math.nan, None)
        out.append(
            {
                "model": model,
                "regularizer": regularizer,
                "strength": strength,
                "random_train_accuracy": noise["final"]["train_accuracy"] if noise else math.nan,
                "random_epochs": noise["final"]["epochs_run"] if noise else None,
                "true_best_test_accuracy": best,
                "true_best_epoch": best_epoch,
                "true_test_accuracy": real["final"]["test_accuracy"] if real else math.nan,
                "true_train_accuracy": real["final"]["train_accuracy"] if real else math.nan,
            }
        )
    return out


def _order(key: tuple[str, str, float]) -> tuple:
    model, regularizer, strength = key
    names = ["none", *STRENGTHS]
    return (MODELS.index(model) if model in MODELS else len(MODELS), model, names.index(regularizer), strength)


def randy_rows(recs: list[records.RunRecord]) -> list[dict[str, Any]]:
    """Per model, the unregularized randY run: its best test accuracy's epoch against its fit epoch."""
    out = []
    for r in records.lowest_seed([r for r in recs if r.finished and r.config.tag == TAG and _labels(r) == "randy"]):
        if which(r.config) != ("none", 0.0):
            continue
        best, epoch = best_test(r)
        final = r["final"]
        out.append(
            {
                "model": r.config.model,
                "best_test_accuracy": best,
                "best_epoch": epoch,
                "fit_epoch": final.get("fit_epoch"),
                "final_test_accuracy": final["test_accuracy"],
                "epochs_run": final["epochs_run"],
            }
        )
    return out


def draw(table: list[dict[str, Any]], path: str) -> None:
    """Per model: final training accuracy on random labels against the best test accuracy on true labels, one
    line per regularizer from the unregularized point through its strengths (Arpit et al.'s Figure 10)."""
    model_names = list(dict.fromkeys(row["model"] for row in table))
    fig, axes = plots.new_figure(max(len(model_names), 1), width=6.0, height=5.0)
    for ax, model in zip(axes, model_names):
        mine = [row for row in table if row["model"] == model]
        none = next((row for row in mine if row["regularizer"] == "none"), None)
        for i, regularizer in enumerate(STRENGTHS):
            points = [row for row in mine if row["regularizer"] == regularizer]
            if not points:
                continue
            line = ([none] if none else []) + sorted(points, key=lambda row: row["strength"])
            xs = [row["true_best_test_accuracy"] for row in line]
            ys = [row["random_train_accuracy"] for row in line]
            style = "s" if regularizer in ("random_crop", "augment") else "o-"
            ax.plot(xs, ys, style, color=f"C{i}", label=LABELS[regularizer])
            for row in points:
                if regularizer not in ("random_crop", "augment"):
                    ax.annotate(
                        f"{row['strength']:g}",
                        (row["true_best_test_accuracy"], row["random_train_accuracy"]),
                        fontsize=7,
                        color=f"C{i}",
                    )
        if none:
            ax.plot([none["true_best_test_accuracy"]], [none["random_train_accuracy"]], "k*", markersize=12)
        ax.set(
            xlabel="best test accuracy, true labels",
            ylabel="final training accuracy, random labels",
            ylim=(0.0, 1.05),
            title=f"{models.paper_name(model, True)}: * no regularizer",
        )
        ax.legend(fontsize=7)
    plots.save(fig, path)


def summary(table: list[dict[str, Any]], randy: list[dict[str, Any]]) -> str:
    cells = [
        [
            models.paper_name(row["model"], True),
            LABELS[row["regularizer"]],
            "–" if row["regularizer"] in ("none", "random_crop", "augment") else f"{row['strength']:g}",
            tables.fmt(row["random_train_accuracy"], 3),
            row["random_epochs"] if row["random_epochs"] is not None else "–",
            tables.fmt(row["true_best_test_accuracy"], 3),
            tables.fmt(row["true_test_accuracy"], 3),
            tables.fmt(row["true_train_accuracy"], 3),
        ]
        for row in table
    ]
    header = [
        "model",
        "regularizer",
        "strength",
        "random labels: final train acc",
        "epochs",
        "true labels: best test acc (curve)",
        "final test acc",
        "final train acc",
    ]
    text = [
        "# What stops memorization: regularizers on random and on true labels (Arpit et al. 2017, §5)\n",
        "Per regularizer and strength (the others off): the final training accuracy of the run on random labels "
        "(what it memorized within the budget) and the best curve-test accuracy of the run on true labels (what "
        "it still learns). Arpit et al.: dropout's curve is flat (memorization falls, real-data accuracy holds); "
        "weight decay's is not.\n",
        tables.markdown(header, cells, "lllrrrrr"),
    ]
    if randy:
        text += [
            f"\n## Label noise p = {RANDY:g}, no regularizer: the best test accuracy comes before the fit\n",
            tables.markdown(
                ["model", "best test acc (curve)", "at epoch", "fit epoch (100% train)", "final test acc", "epochs"],
                [
                    [
                        models.paper_name(r["model"], True),
                        tables.fmt(r["best_test_accuracy"], 3),
                        r["best_epoch"] if r["best_epoch"] is not None else "–",
                        r["fit_epoch"] if r["fit_epoch"] is not None else "not fitted",
                        tables.fmt(r["final_test_accuracy"], 3),
                        r["epochs_run"],
                    ]
                    for r in randy
                ],
                "lrrrrr",
            ),
        ]
    return "\n".join(text)


FIELDS = (
    "model",
    "regularizer",
    "strength",
    "random_train_accuracy",
    "random_epochs",
    "true_best_test_accuracy",
    "true_best_epoch",
    "true_test_accuracy",
    "true_train_accuracy",
)


def report(results_dir: str) -> str:
    """regularizers.md, .csv and .png in results_dir, from its records alone; returns the Markdown."""
    recs = records.load_all(results_dir)
    table, randy = rows(recs), randy_rows(recs)
    if not table:
        return f"No finished run of the regularizers experiment in {results_dir} yet."
    return plots.write_table_figure(results_dir, "regularizers", summary(table, randy), table, FIELDS, draw, recs)


@dataclasses.dataclass(frozen=True)
class Options:
    """The experiment's own flags (rethink_tf.cli.define_options), the keyword arguments of grid."""

    regularizer_models: tuple[str, ...] = config_lib.setting(
        MODELS, "Regularizers: the architectures (repeat the flag for each), batch norm on.", choices="models"
    )
    regularizer_names: tuple[str, ...] = config_lib.setting(
        tuple(STRENGTHS),
        "Regularizers: which regularizers (repeat the flag for each), each at its strengths "
        "(rethink_tf/experiments/regularizers.py), beside the unregularized pair.",
        choices=tuple(STRENGTHS),
    )
    regularizer_epochs: int = config_lib.setting(
        0, "Regularizers: every run's epoch budget (random and true labels alike); 0 = --epochs.", lower_bound=0
    )


EXPERIMENT = runner.Experiment("regularizers", report, runs=grid, options=Options, subdir="regularizers")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
