"""The critical sample ratio under label and input noise (Arpit et al. 2017, §4, their Figures 7-9): one run per
model and condition, true labels, a fraction p of the labels random (randY), every label random, a fraction p of the
training inputs Gaussian noise (randX, labels and test images real), with the test and training samples' CSR before
the first step and after every --csr_noise_every-th epoch.

`python -m rethink_tf.experiments.csr_noise --preset=laptop --results_dir=results/laptop/csr_noise` trains every run
without a finished record (MLP 1x512 and AlexNet-small by default, p = 0.2, 0.4, 0.6, 0.8; no explicit regularizer,
each until 100% training accuracy within the preset's budget, the random-label budget where labels are noisy;
records kept, no weights or measures), then writes csr_noise.md, .csv (a row per run), csr_noise_curves.csv (a row
per run and CSR point) and csr_noise.png from the records alone. Arpit et al.: the test CSR rises during training,
and ends higher for noise labels and noise inputs than for real data, higher for more noise. Laptop cost and what
holds: docs/csr.md ("Under label and input noise").
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from rethink_tf import atomic, csr, models, plots, records, runs, tables
from rethink_tf import config as config_lib
from rethink_tf.experiments import runner

TAG = "csr_noise"
LEVELS = (0.2, 0.4, 0.6, 0.8)
MODELS = ("mlp_1x512", "alexnet_small")
# (condition, its corruption) in the report's order; randY and randX run at each p, the others once.
CONDITIONS = (("true", "true_labels"), ("randY", "true_labels"), ("random", "random_labels"), ("randX", "gaussian"))
LABELS = {"true": "true labels", "randY": "label noise p", "random": "random labels", "randX": "Gaussian inputs p"}


def run_config(
    base: config_lib.RunConfig, model: str, condition: str, p: float, every: int, size: int
) -> config_lib.RunConfig:
    """One run: no explicit regularizer, `condition` at p (randY, randX; ignored otherwise), the CSR every `every`
    epochs on `size` test and training images (0: the base's --csr_size); the random-label budget where any label
    is random (they fit more slowly), the base's --epochs otherwise."""
    corruption = dict(CONDITIONS)[condition]
    noisy_labels = condition in ("randY", "random")
    return runs.unregularized(
        base,
        model=model,
        batch_norm=True,
        corruption=corruption,
        corrupt=p if condition in ("randY", "randX") else 0.0,
        epochs=(base.random_label_epochs or base.epochs) if noisy_labels else base.epochs,
        crop_epochs=0,
        measures=False,  # the CSR is the measure here; the others cost an AlexNet run's training (docs/measures.md)
        save_weights=False,
        csr_every=every,
        csr_size=size or base.csr_size,
        tag=TAG,
    )


def conditions(levels: tuple[float, ...]) -> list[tuple[str, float]]:
    return [(name, p) for name, _ in CONDITIONS for p in (levels if name in ("randY", "randX") else (0.0,))]


def grid(
    base: config_lib.RunConfig,
    csr_noise_models: tuple[str, ...] = MODELS,
    csr_noise_levels: tuple[float, ...] = LEVELS,
    csr_noise_every: int = 1,
    csr_noise_size: int = 500,
) -> runner.Runs:
    """Per model, per condition: one run."""
    bad = [p for p in csr_noise_levels if not 0.0 < p < 1.0]
    if bad:
        raise config_lib.ConfigError(
            f"--csr_noise_levels={bad[0]:g}: fractions strictly between 0 and 1 (true and random labels run anyway)"
        )
    wanted = []
    for model in csr_noise_models:
        name = models.paper_name(model, True)
        for condition, p in conditions(csr_noise_levels):
            label = f"{name}, {LABELS[condition]}" + (f" {p:g}" if condition in ("randY", "randX") else "")
            wanted.append((label, run_config(base, model, condition, p, csr_noise_every, csr_noise_size)))
    return [(f"[csr_noise {i + 1}/{len(wanted)} {label}]", cfg) for i, (label, cfg) in enumerate(wanted)]


def which(config: config_lib.RunConfig) -> tuple[str, float] | None:
    """(condition, p) of a run of this experiment's kind, None for another run."""
    if config.tag != TAG or config.regularizers:
        return None
    if config.corruption == "random_labels":
        return "random", 0.0
    if config.corruption == "true_labels":
        return ("randY", config.corrupt) if config.corrupt else ("true", 0.0)
    if config.corruption == "gaussian" and 0.0 < config.corrupt < 1.0:
        return "randX", config.corrupt
    return None


def curve(r: records.RunRecord) -> list[dict[str, Any]]:
    """The run's CSR points: epoch 0 (before the first step) when recorded, then every epoch that has one."""
    initial = r.get(csr.INITIAL_KEY)
    points = [{"epoch": 0, **initial}] if initial else []
    points += [row for row in r.epochs if csr.TEST_KEY in row]
    return [
        {
            "epoch": row["epoch"],
            "csr_test": row[csr.TEST_KEY],
            "csr_train": row[csr.TRAIN_KEY],
            "val_accuracy": row.get("val_accuracy", math.nan),
        }
        for row in points
    ]


def _order(row: dict[str, Any]) -> tuple:
    model = row["model"]
    names = [name for name, _ in CONDITIONS]
    return (MODELS.index(model) if model in MODELS else len(MODELS), model, names.index(row["condition"]), row["p"])


def rows(recs: list[records.RunRecord]) -> list[dict[str, Any]]:
    """One dict per model and condition, from the finished runs of this experiment's kind (lowest seed)."""
    out = []
    for r in records.lowest_seed([r for r in recs if r.finished and which(r.config)]):
        condition, p = which(r.config)
        points = curve(r)
        if not points:
            continue
        test = [pt["csr_test"] for pt in points]
        trained = [pt["csr_test"] for pt in points if pt["epoch"] > 0]  # after an epoch or more of training
        accuracies = [(row["val_accuracy"], row["epoch"]) for row in r.epochs if "val_accuracy" in row]
        best, best_epoch = max(accuracies, key=lambda t: (t[0], -t[1])) if accuracies else (math.nan, None)
        final = r["final"]
        out.append(
            {
                "model": r.config.model,
                "condition": condition,
                "p": p,
                "csr_size": r.config.csr_size,
                "epochs_run": final["epochs_run"],
                "fit_epoch": final.get("fit_epoch"),
                "test_accuracy": final["test_accuracy"],
                "best_test_accuracy": best,
                "best_test_epoch": best_epoch,
                "csr_test_initial": test[0] if points[0]["epoch"] == 0 else math.nan,
                "csr_test_first_epoch": trained[0] if trained else math.nan,
                "csr_test_max": max(trained, default=math.nan),
                "csr_test_final": test[-1],
                "csr_train_final": points[-1]["csr_train"],
                "curve": points,
            }
        )
    return sorted(out, key=_order)


def _name(row: dict[str, Any]) -> str:
    return LABELS[row["condition"]] + (f" {row['p']:g}" if row["condition"] in ("randY", "randX") else "")


def draw(table: list[dict[str, Any]], path: str) -> None:
    """Per model, two panels: the test sample's CSR against the epoch under label noise (true labels through random
    labels) and under input noise (true labels and randX), as Arpit et al.'s Figures 7a and 8a."""
    model_names = list(dict.fromkeys(row["model"] for row in table))
    panels = [(m, kind) for m in model_names for kind in ("randY", "randX")]
    fig, axes = plots.new_figure(max(len(panels), 1), width=5.0, height=4.0, columns=2)
    for ax, (model, kind) in zip(axes, panels):
        mine = [r for r in table if r["model"] == model and r["condition"] in ("true", kind, "random")]
        mine = [r for r in mine if kind == "randY" or r["condition"] != "random"]
        for row in mine:
            level = {"true": 0.0, "random": 1.0}.get(row["condition"], row["p"])
            xs = [pt["epoch"] for pt in row["curve"]]
            ys = [pt["csr_test"] for pt in row["curve"]]
            ax.plot(xs, ys, "-", color=plots.plt.cm.viridis(level * 0.9), label=_name(row), linewidth=1.2)
        ax.set(
            xlabel="epoch (0: before training)",
            ylabel="critical sample ratio, test sample",
            title=f"{models.paper_name(model, True)}: {'label' if kind == 'randY' else 'input'} noise",
        )
        ax.legend(fontsize=7)
    plots.save(fig, path)


def summary(table: list[dict[str, Any]]) -> str:
    header = [
        "model",
        "condition",
        "epochs",
        "fit epoch",
        "final test acc",
        "best test acc (curve), epoch",
        "test CSR: before training",
        "epoch 1",
        "max (epochs 1-)",
        "final",
        "train CSR: final",
    ]
    cells = [
        [
            models.paper_name(r["model"], True),
            _name(r),
            r["epochs_run"],
            r["fit_epoch"] if r["fit_epoch"] is not None else "not fitted",
            tables.fmt(r["test_accuracy"], 3),
            f"{tables.fmt(r['best_test_accuracy'], 3)}, {tables.fmt(r['best_test_epoch'], 0)}",
            tables.fmt(r["csr_test_initial"], 3),
            tables.fmt(r["csr_test_first_epoch"], 3),
            tables.fmt(r["csr_test_max"], 3),
            tables.fmt(r["csr_test_final"], 3),
            tables.fmt(r["csr_train_final"], 3),
        ]
        for r in table
    ]
    sizes = sorted({r["csr_size"] for r in table})
    return "\n".join(
        [
            "# The critical sample ratio under label and input noise (Arpit et al. 2017, Figures 7-9)\n",
            "Per model and condition, one run: the CSR of a fixed test sample (and of a training sample) before the "
            "first step and along training (Langevin adversarial search, Arpit et al.'s radius; docs/csr.md). Arpit "
            "et al.: the test CSR rises during training and ends higher for noise labels and noise inputs than for "
            f"real data, higher for more noise. Samples of {', '.join(str(s) for s in sizes)} images "
            "(the whole training set where it is smaller).\n",
            tables.markdown(header, cells, "llrrrrrrrrr"),
        ]
    )


FIELDS = (
    "model",
    "condition",
    "p",
    "csr_size",
    "epochs_run",
    "fit_epoch",
    "test_accuracy",
    "best_test_accuracy",
    "best_test_epoch",
    "csr_test_initial",
    "csr_test_first_epoch",
    "csr_test_max",
    "csr_test_final",
    "csr_train_final",
)
CURVE_FIELDS = ("model", "condition", "p", "epoch", "csr_test", "csr_train", "val_accuracy")


def report(results_dir: str) -> str:
    """csr_noise.md, .csv, csr_noise_curves.csv and csr_noise.png in results_dir, from its records alone."""
    recs = records.load_all(results_dir)
    table = rows(recs)
    if not table:
        return f"No finished run of the csr_noise experiment in {results_dir} yet."
    text = plots.write_table_figure(results_dir, "csr_noise", summary(table), table, FIELDS, draw, recs)
    points = [{**{k: r[k] for k in ("model", "condition", "p")}, **pt} for r in table for pt in r["curve"]]
    atomic.write_text(os.path.join(results_dir, "csr_noise_curves.csv"), tables.csv_text(points, CURVE_FIELDS))
    return text


@dataclasses.dataclass(frozen=True)
class Options:
    """The experiment's own flags (rethink_tf.cli.define_options), the keyword arguments of grid."""

    csr_noise_models: tuple[str, ...] = config_lib.setting(
        MODELS, "CSR under noise: the architectures (repeat the flag for each), batch norm on.", choices="models"
    )
    csr_noise_levels: tuple[float, ...] = config_lib.setting(
        LEVELS,
        "CSR under noise: the fractions p of noisy labels (randY) and of Gaussian inputs (randX), repeat the flag "
        "for each; true and random labels always run.",
        lower_bound=0.0,
        upper_bound=1.0,
    )
    csr_noise_every: int = config_lib.setting(
        1,
        "CSR under noise: a CSR point every N epochs (and at each run's last), whatever --csr_every says.",
        lower_bound=1,
    )
    csr_noise_size: int = config_lib.setting(
        500,
        "CSR under noise: test and training images searched at each point (Arpit et al.'s 500); 0 = --csr_size.",
        lower_bound=0,
    )


EXPERIMENT = runner.Experiment("csr_noise", report, runs=grid, options=Options, subdir="csr_noise")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
