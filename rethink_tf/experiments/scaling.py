"""Table 1 and Figure 1b as the training set grows: per model and n, the unregularized true-label run and the
random-label run, their test accuracies, their steps to 100% training accuracy and the ratio of the two (the paper's
Figure 1b slowdown), with the paper's CIFAR-10 values (n = 50,000) as the reference; the same ratio in steps to 99%
(one stubborn example short of 100% is not a slower fit), and a lower bound where random labels ran out of epochs.

`python -m rethink_tf.experiments.scaling --preset=laptop --results_dir=results/laptop/scaling` trains every run
without a finished record (MLP 1x512, AlexNet-small and Inception-small by default at n = 400, 1,600, 6,400,
25,600 and 60,000, each model up to its --scaling_max_sizes cap: AlexNet to 25,600, Inception to 1,600; the
preset's batch, learning rate and stop at 100% training accuracy; records kept, no weights, measures, ledger or
CSR), then writes scaling.md, .csv and .png from the records alone.
It asks whether the laptop preset's three disagreements with the paper (the model order in test accuracy,
Inception's and the MLP's slowdown on random labels) close as n grows. Laptop cost and what holds:
docs/results-laptop.md ("As n grows").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, paper, plots, records, runs, tables
from rethink_tf.experiments import runner

TAG = "scaling"
MODELS = ("mlp_1x512", "alexnet_small", "inception_small")
SIZES = (400, 1600, 6400, 25600, 60000)
# The largest n of a model by default: the slower nets stop earlier (2 cores, batch 128: AlexNet-small 908 training
# images/s against MLP 1x512's 19,713, docs/memorization.md; Inception-small 50-70, docs/decisions.md).
MAX_SIZES = ("alexnet_small=25600", "inception_small=1600")
PAPER_N = 50_000


def max_sizes(entries: tuple[str, ...]) -> dict[str, int]:
    """--scaling_max_sizes as {model: the largest n it trains at}."""
    out = {}
    for entry in entries:
        name, _, value = entry.partition("=")
        if name not in models.MODELS or not value.strip().isdigit() or int(value) < 1:
            raise config_lib.ConfigError(
                f"--scaling_max_sizes={entry}: give MODEL=N with MODEL one of {', '.join(models.MODELS)} and N >= 1"
            )
        out[name] = int(value)
    return out


def run_config(base: config_lib.RunConfig, model: str, n: int, random_labels: bool) -> config_lib.RunConfig:
    """One run: Table 1's unregularized row of `model` (random labels or true) on n training images, its
    directory named with n (run names leave the training set's size out)."""
    cfg = runs.unregularized(
        base,
        model=model,
        batch_norm=True,
        corruption="random_labels" if random_labels else "true_labels",
        corrupt=0.0,
        train_size=n,
        measures=False,
        save_weights=False,
        ledger=False,
        csr_every=0,
        tag=TAG,
    )
    return dataclasses.replace(cfg, run_name=f"{config_lib.default_run_name(cfg)}-n{n}")


def grid(
    base: config_lib.RunConfig,
    scaling_models: tuple[str, ...] = MODELS,
    scaling_sizes: tuple[int, ...] = SIZES,
    scaling_max_sizes: tuple[str, ...] = MAX_SIZES,
) -> runner.Runs:
    """Per n (smallest first, so a cut-short grid still has whole rows), per model up to its cap: the true-label
    run, then the random-label run."""
    caps = max_sizes(scaling_max_sizes)
    wanted = [
        (f"{models.paper_name(model, True)}, n = {n:,}, {'random' if random else 'true'} labels", (model, n, random))
        for n in sorted(set(scaling_sizes))
        for model in scaling_models
        if n <= caps.get(model, n)
        for random in (False, True)
    ]
    return [
        (f"[scaling {i + 1}/{len(wanted)} {label}]", run_config(base, model, n, random))
        for i, (label, (model, n, random)) in enumerate(wanted)
    ]


# The second level of training accuracy the slowdown is read at: one stubborn example of 25,600 is not a slower fit.
NEAR_FIT = 0.99


def steps_to(record: records.RunRecord, level: float) -> int | None:
    """Optimizer steps until the first epoch whose training accuracy reaches `level` (1.0: the record's own fit
    epoch), None if none did."""
    if level >= 1.0:
        return record.steps_to_fit
    epoch = next((e["epoch"] for e in record.epochs if e.get("accuracy", 0.0) >= level), None)
    return epoch * record.steps_per_epoch if epoch else None


def slowdown(true_steps: int | None, random_steps: int | None, random: records.RunRecord | None) -> tuple[float, bool]:
    """The random-label run's steps to a level over the true-label run's, and whether it is only a lower bound: a
    random-label run that spent its whole budget short of the level took more steps than it ran."""
    if not true_steps or random is None:
        return math.nan, False
    if random_steps:
        return random_steps / true_steps, False
    return len(random.epochs) * random.steps_per_epoch / true_steps, True


def rows(recs: list[records.RunRecord]) -> list[dict[str, Any]]:
    """One dict per model and n, from the finished runs of this experiment (lowest seed)."""
    pairs: dict[tuple[str, int], dict[str, records.RunRecord]] = {}
    for r in records.lowest_seed([r for r in recs if r.finished and r.config.tag == TAG]):
        c = r.config
        if c.regularizers or c.corruption not in ("true_labels", "random_labels") or c.corrupt:
            continue
        pairs.setdefault((c.model, r["data"]["train_examples"]), {})[c.corruption] = r
    out = []
    for (model, n), by in sorted(pairs.items(), key=lambda kv: (kv[0][1], _model_order(kv[0][0]))):
        true, random = by.get("true_labels"), by.get("random_labels")
        steps = {
            (label, level): steps_to(run, level) if run else None
            for label, run in (("true", true), ("random", random))
            for level in (1.0, NEAR_FIT)
        }
        ratio, ratio_bound = slowdown(steps["true", 1.0], steps["random", 1.0], random)
        near, near_bound = slowdown(steps["true", NEAR_FIT], steps["random", NEAR_FIT], random)
        out.append(
            {
                "model": model,
                "n": n,
                "true_test_accuracy": true["final"]["test_accuracy"] if true else math.nan,
                "random_test_accuracy": random["final"]["test_accuracy"] if random else math.nan,
                "true_train_accuracy": true["final"]["train_accuracy"] if true else math.nan,
                "random_train_accuracy": random["final"]["train_accuracy"] if random else math.nan,
                "true_steps_to_fit": steps["true", 1.0],
                "random_steps_to_fit": steps["random", 1.0],
                "slowdown": ratio,
                "slowdown_is_lower_bound": ratio_bound,
                "true_steps_to_99": steps["true", NEAR_FIT],
                "random_steps_to_99": steps["random", NEAR_FIT],
                "slowdown_to_99": near,
                "slowdown_to_99_is_lower_bound": near_bound,
                "true_epochs": true["final"]["epochs_run"] if true else None,
                "random_epochs": random["final"]["epochs_run"] if random else None,
                "wall_time_s": sum(r.get("wall_time_s") or 0.0 for r in by.values()),
            }
        )
    return out


def _model_order(model: str) -> int:
    order = ("inception_small", "alexnet_small", "mlp_1x512", "mlp_3x512")
    return order.index(model) if model in order else len(order)


def order_by_n(table: list[dict[str, Any]]) -> dict[int, list[str]]:
    """Per n where every model has a true-label run: the models from the best test accuracy to the worst."""
    out = {}
    for n in sorted({row["n"] for row in table}):
        line = [row for row in table if row["n"] == n and not math.isnan(row["true_test_accuracy"])]
        out[n] = [row["model"] for row in sorted(line, key=lambda row: -row["true_test_accuracy"])]
    return out


def _times(value: float, bound: bool) -> str:
    """A slowdown as the report prints it: 2.76x, > 6.10x (a lower bound), or a dash."""
    return "–" if math.isnan(value) else f"{'> ' if bound else ''}{tables.fmt(value, 2)}x"


def draw(table: list[dict[str, Any]], path: str) -> None:
    """(a) the random-to-true slowdown against n, in steps to 100% (solid) and to 99% (dashed) training accuracy,
    a lower bound as an open triangle, the paper's as stars at n = 50,000; (b) the true-label test accuracy against n,
    the paper's CIFAR-10 accuracies likewise."""
    fig, axes = plots.new_figure(2, width=5.5, height=4.2)
    model_names = sorted({row["model"] for row in table}, key=_model_order)
    for i, model in enumerate(model_names):
        line = sorted((row for row in table if row["model"] == model), key=lambda row: row["n"])
        color, name = f"C{i}", models.paper_name(model, True)
        for key, style, label in (("slowdown", "o-", name), ("slowdown_to_99", "s--", f"{name}, to 99%")):
            exact = [(r["n"], r[key]) for r in line if not r[f"{key}_is_lower_bound"]]
            if exact:
                axes[0].plot(*zip(*exact), style, color=color, label=label)
            bounds = [(r["n"], r[key]) for r in line if r[f"{key}_is_lower_bound"]]
            if bounds:
                axes[0].plot(*zip(*bounds), "^", color=color, fillstyle="none", markersize=9)
        axes[1].plot([r["n"] for r in line], [r["true_test_accuracy"] for r in line], "o-", color=color, label=name)
        if model in paper.FIGURE1B_SLOWDOWN_AT_P1:
            axes[0].plot([PAPER_N], [paper.FIGURE1B_SLOWDOWN_AT_P1[model]], "*", color=color, markersize=12)
            axes[1].plot([PAPER_N], [1.0 - paper.FIGURE1C_TEST_ERROR_AT_P0[model]], "*", color=color, markersize=12)
    axes[0].set(xscale="log", xlabel="training examples n", ylabel="steps to fit: random / true labels")
    axes[0].set_title("Figure 1b's slowdown (* the paper, CIFAR-10;\n^ at least: random labels not fitted)")
    axes[1].set(xscale="log", xlabel="training examples n", ylabel="test accuracy, true labels")
    axes[1].set_title("Table 1's test accuracy (* the paper, CIFAR-10)")
    for ax in axes:
        ax.legend(fontsize=7)
    plots.save(fig, path)


def summary(table: list[dict[str, Any]]) -> str:
    cells = [
        [
            models.paper_name(r["model"], True),
            f"{r['n']:,}",
            tables.fmt(r["true_test_accuracy"], 3),
            tables.fmt(r["random_test_accuracy"], 3),
            tables.fmt(r["random_train_accuracy"], 3),
            r["true_steps_to_fit"] or "not fitted",
            r["random_steps_to_fit"] or "not fitted",
            _times(r["slowdown"], r["slowdown_is_lower_bound"]),
            _times(r["slowdown_to_99"], r["slowdown_to_99_is_lower_bound"]),
            f"{paper.FIGURE1B_SLOWDOWN_AT_P1[r['model']]:g}x" if r["model"] in paper.FIGURE1B_SLOWDOWN_AT_P1 else "–",
        ]
        for r in table
    ]
    orders = [
        f"- n = {n:,}: " + " > ".join(models.paper_name(m, True) for m in line)
        for n, line in order_by_n(table).items()
        if len(line) > 1
    ]
    return "\n".join(
        [
            "# Table 1 and Figure 1b as n grows\n",
            "Per model and training set size n: the unregularized true- and random-label runs, their test accuracy, "
            "their steps to 100% training accuracy and the ratio (the paper's Figure 1b slowdown; the paper's own, on "
            'CIFAR-10\'s 50,000 images, beside it), and the same ratio in steps to 99%. "> x": the random-label run '
            "spent its epoch budget short of the level, so the ratio is at least x.\n",
            tables.markdown(
                [
                    "model",
                    "n",
                    "test acc, true labels",
                    "test acc, random labels",
                    "train acc, random labels",
                    "steps to fit, true",
                    "steps to fit, random",
                    "slowdown",
                    "slowdown to 99%",
                    "paper's slowdown",
                ],
                cells,
                "lrrrrrrrrr",
            ),
            "\n## The models' order in test accuracy (true labels)\n",
            *(orders or ["- one model per n so far"]),
            "\nThe paper's, on CIFAR-10: Inception > AlexNet > MLP 1x512.",
        ]
    )


FIELDS = (
    "model",
    "n",
    "true_test_accuracy",
    "random_test_accuracy",
    "true_steps_to_fit",
    "random_steps_to_fit",
    "slowdown",
    "slowdown_is_lower_bound",
    "true_steps_to_99",
    "random_steps_to_99",
    "slowdown_to_99",
    "slowdown_to_99_is_lower_bound",
    "true_train_accuracy",
    "random_train_accuracy",
    "true_epochs",
    "random_epochs",
    "wall_time_s",
)


def report(results_dir: str) -> str:
    """scaling.md, .csv and .png in results_dir, from its records alone; returns the Markdown."""
    recs = records.load_all(results_dir)
    table = rows(recs)
    if not table:
        return f"No finished run of the scaling experiment in {results_dir} yet."
    return plots.write_table_figure(results_dir, "scaling", summary(table), table, FIELDS, draw, recs)


@dataclasses.dataclass(frozen=True)
class Options:
    """The experiment's own flags (rethink_tf.cli.define_options), the keyword arguments of grid."""

    scaling_models: tuple[str, ...] = config_lib.setting(
        MODELS, "Scaling: the architectures (repeat the flag for each), batch norm on.", choices="models"
    )
    scaling_sizes: tuple[int, ...] = config_lib.setting(
        SIZES, "Scaling: the training set sizes n (repeat the flag for each), class-stratified subsets."
    )
    scaling_max_sizes: tuple[str, ...] = config_lib.setting(
        MAX_SIZES,
        "Scaling: the largest n of an architecture, as MODEL=N (repeat the flag for each); the others take every n.",
    )


EXPERIMENT = runner.Experiment("scaling", report, runs=grid, options=Options, subdir="scaling")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
