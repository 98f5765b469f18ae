"""Double descent under label noise (Nakkiran et al. 2019, "Deep double descent"; Belkin et al. 2019): model-wise,
test error against width at label noise p, with a peak where the net first fits its noisy training set;
epoch-wise, the same runs' test error per epoch; sample-wise, test error against the training set's size n at one
width. Every run trains with Adam at a constant learning rate for the same number of epochs (no stop at 100%
training accuracy: the epoch-wise curve goes on past it), without explicit regularizers, as theirs.

`python -m rethink_tf.experiments.double_descent --preset=laptop --results_dir=results/laptop/double_descent`
trains every run without a finished record (MLP 1xh by default, h from --dd_widths, p from --dd_levels, on
--dd_train_size Fashion-MNIST images; then n from --dd_sample_sizes at --dd_sample_width and the largest p),
then writes double_descent.md, .csv and .png from the records alone. The effective model complexity of a width and
p (Nakkiran et al.'s EMC: the largest n it trains to training error <= 0.1) is read from the sample-wise runs.
Laptop cost and what holds: docs/double-descent.md.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, plots, records, runs, tables
from rethink_tf.experiments import runner

TAG = "double_descent"
WIDTHS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0)
LEVELS = (0.0, 0.1, 0.2)
SAMPLE_SIZES = (250, 500, 1000, 2000, 4000)
CURVE_TEST_SIZE = 1000  # the epoch-wise curve's test images: a standard error of about 1.4 points at 0.3 error
PEAK_WINDOW = (0.5, 4.0)  # the widths around the threshold where the peak is looked for: one octave below, two above
EMC_ERROR = 0.1  # Nakkiran et al.'s epsilon: a setting "fits" n examples when its training error is at most this


def width_changes(model: str, width: float) -> dict[str, Any]:
    """The config changes of one width: the MLPs' hidden units, the conv nets' width multiplier."""
    kind = models.MODELS[model].width
    if kind == "units":
        if width != int(width) or width < 1:
            raise config_lib.ConfigError(f"--dd_widths={width:g}: the MLPs' widths are hidden units, integers >= 1")
        return {"hidden_units": int(width)}
    if kind == "multiplier":
        return {"width_multiplier": float(width)}
    sweepable = models.WIDTHS["units"] + models.WIDTHS["multiplier"]
    raise config_lib.ConfigError(f"--dd_model={model}: no width setting; one of {', '.join(sweepable)}")


def width_of(config: config_lib.RunConfig) -> float:
    """The run's width as the grid names it (hidden units, or the multiplier)."""
    if models.MODELS[config.model].width == "units":
        return float(config.hidden_units or 512)
    return config.width_multiplier


def run_config(
    base: config_lib.RunConfig,
    model: str,
    width: float,
    p: float,
    n: int,
    epochs: int,
    learning_rate: float,
    image_size: int = 0,
) -> config_lib.RunConfig:
    """One run: width, label noise p, n training images (grayscale, brought to image_size when not 0), Adam at a
    constant learning rate for `epochs` epochs; its directory named with n too (run names leave the training set's
    size out, and the sample-wise grid varies it)."""
    cfg = runs.unregularized(
        base,
        model=model,
        batch_norm=True,
        corruption="true_labels",
        corrupt=p,
        train_size=n,
        image_size=image_size,
        crop_size=0,
        rgb=False,  # an MLP's input dimension d = side^2: the threshold n*K parameters lies at a width d allows
        epochs=epochs,
        crop_epochs=0,
        random_label_epochs=0,
        stop_when_fit=False,
        optimizer="adam",
        learning_rate=learning_rate,
        lr_decay=1.0,
        measures=False,
        save_weights=False,
        csr_every=0,
        ledger=False,
        curve_test_size=CURVE_TEST_SIZE,
        tag=TAG,
        **width_changes(model, width),
    )
    return dataclasses.replace(cfg, run_name=f"{config_lib.default_run_name(cfg)}-n{n}")


def grid(
    base: config_lib.RunConfig,
    dd_model: str = "mlp_1x512",
    dd_widths: tuple[float, ...] = WIDTHS,
    dd_levels: tuple[float, ...] = LEVELS,
    dd_train_size: int = 1000,
    dd_sample_sizes: tuple[int, ...] = SAMPLE_SIZES,
    dd_sample_width: float = 64.0,
    dd_epochs: int = 200,
    dd_learning_rate: float = 1e-3,
    dd_image_size: int = 14,
) -> runner.Runs:
    """Model-wise: every width at every p on dd_train_size images; sample-wise: every n at dd_sample_width (0: none)
    and the largest p (a run the model-wise grid already has is listed once)."""
    bad = [p for p in dd_levels if not 0.0 <= p < 1.0]
    if bad:
        raise config_lib.ConfigError(f"--dd_levels={bad[0]:g}: label noise in [0, 1)")
    name = models.paper_name(dd_model, True)
    wanted = [
        (f"{name}, width {w:g}, p = {p:g}, n = {dd_train_size}", (w, p, dd_train_size))
        for p in dd_levels
        for w in dd_widths
    ]
    if dd_sample_width:
        top = max(dd_levels)
        wanted += [
            (f"{name}, width {dd_sample_width:g}, p = {top:g}, n = {n}", (dd_sample_width, top, n))
            for n in dd_sample_sizes
        ]
    out, seen = [], set()
    for label, (w, p, n) in wanted:
        cfg = run_config(base, dd_model, w, p, n, dd_epochs, dd_learning_rate, dd_image_size)
        if cfg.run_dir not in seen:
            seen.add(cfg.run_dir)
            out.append((label, cfg))
    return [(f"[double descent {i + 1}/{len(out)} {label}]", cfg) for i, (label, cfg) in enumerate(out)]


def _mine(r: records.RunRecord) -> bool:
    c = r.config
    return r.finished and c.tag == TAG and c.corruption == "true_labels" and models.MODELS[c.model].width is not None


def rows(recs: list[records.RunRecord]) -> list[dict[str, Any]]:
    """One dict per run of this experiment (lowest seed): its width, p, n, parameters, final and best errors."""
    out = []
    for r in records.lowest_seed([r for r in recs if _mine(r)]):
        c, final = r.config, r["final"]
        tested = [(row["val_accuracy"], row["epoch"]) for row in r.epochs if "val_accuracy" in row]
        best, best_epoch = max(tested, key=lambda t: (t[0], -t[1])) if tested else (math.nan, None)
        out.append(
            {
                "model": c.model,
                "width": width_of(c),
                "p": c.corrupt,
                "n": r["data"]["train_examples"],
                "params": r.param_count,
                "epochs": final["epochs_run"],
                "train_error": 1.0 - final["train_accuracy"],
                "test_error": 1.0 - final["test_accuracy"],
                "best_test_error": 1.0 - best,
                "best_epoch": best_epoch,
                "fit_epoch": final.get("fit_epoch"),
                "curve": [(row["epoch"], 1.0 - row["val_accuracy"]) for row in r.epochs if "val_accuracy" in row],
            }
        )
    return sorted(out, key=lambda row: (row["model"], row["p"], row["n"], row["width"]))


def effective_complexity(table: list[dict[str, Any]]) -> dict[tuple[str, float, float], int]:
    """Per (model, width, p): the largest n among its runs whose final training error is at most EMC_ERROR."""
    out: dict[tuple[str, float, float], int] = {}
    for row in table:
        if row["train_error"] <= EMC_ERROR:
            key = (row["model"], row["width"], row["p"])
            out[key] = max(out.get(key, 0), row["n"])
    return out


def model_wise(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs at the model-wise grid's n (the n most runs share), one per width and p."""
    counts: dict[int, int] = {}
    for row in table:
        counts[row["n"]] = counts.get(row["n"], 0) + 1
    n = max(counts, key=lambda k: (counts[k], k)) if counts else 0
    return [row for row in table if row["n"] == n]


def peaks(mw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per p: the interpolation threshold as found (the first width whose training error is <= EMC_ERROR), the
    highest test error within a window around it (PEAK_WINDOW), the best test error of the widths narrower and wider
    than the window, and whether there is a peak: the window's highest above both (Nakkiran et al.'s "higher than
    at the widths on both sides"; none without a threshold or widths on both sides)."""
    out = []
    for p in sorted({row["p"] for row in mw}):
        line = sorted((row for row in mw if row["p"] == p), key=lambda row: row["width"])
        threshold = next((row["width"] for row in line if row["train_error"] <= EMC_ERROR), None)
        low, high = (threshold * PEAK_WINDOW[0], threshold * PEAK_WINDOW[1]) if threshold else (math.inf, math.inf)
        window = [row for row in line if low <= row["width"] <= high]
        narrower = [row["test_error"] for row in line if row["width"] < low]
        wider = [row["test_error"] for row in line if row["width"] > high]
        top = max(window, key=lambda row: row["test_error"]) if window else None
        out.append(
            {
                "p": p,
                "threshold_width": threshold,
                "peak_width": top["width"] if top else None,
                "peak_test_error": top["test_error"] if top else math.nan,
                "best_narrower": min(narrower, default=math.nan),
                "best_wider": min(wider, default=math.nan),
                "peak": bool(top and narrower and wider)
                and top["test_error"] > min(narrower)
                and top["test_error"] > min(wider),
            }
        )
    return out


def draw(table: list[dict[str, Any]], path: str) -> None:
    """(a) test and train error against width per p (log scale), (b) test error per width and epoch at the largest
    p (a heat map), (c) test error against n at the sample-wise width."""
    mw = model_wise(table)
    fig, axes = plots.new_figure(3, width=5.5, height=4.2)
    ax = axes[0]
    for i, p in enumerate(sorted({row["p"] for row in mw})):
        line = sorted((row for row in mw if row["p"] == p), key=lambda row: row["width"])
        xs = [row["width"] for row in line]
        ax.plot(xs, [row["test_error"] for row in line], "o-", color=f"C{i}", label=f"test, p = {p:g}")
        ax.plot(xs, [row["train_error"] for row in line], "x--", color=f"C{i}", alpha=0.6, label=f"train, p = {p:g}")
    ax.set(xscale="log", xlabel="width", ylabel="error (final)", title="model-wise")
    ax.legend(fontsize=7)
    ax = axes[1]
    top = max((row["p"] for row in mw), default=0.0)
    line = sorted((row for row in mw if row["p"] == top), key=lambda row: row["width"])
    if line:
        epochs = max(len(row["curve"]) for row in line)
        grid_ = [[math.nan] * epochs for _ in line]
        for i, row in enumerate(line):
            for j, (_, error) in enumerate(row["curve"]):
                grid_[i][j] = error
        values = sorted(v for row in grid_ for v in row if not math.isnan(v))
        image = ax.imshow(
            grid_,
            aspect="auto",
            origin="lower",
            cmap="viridis",
            interpolation="nearest",
            extent=(0.5, epochs + 0.5, -0.5, len(line) - 0.5),
            vmin=values[0] if values else None,
            vmax=values[int(0.8 * (len(values) - 1))] if values else None,  # the narrowest nets' errors off scale
        )
        ax.set_yticks(range(len(line)), [f"{row['width']:g}" for row in line])
        fig.colorbar(image, ax=ax, label="test error (curve subset)")
    ax.set(xlabel="epoch", ylabel="width", title=f"epoch-wise, p = {top:g} (colour capped at the 80th percentile)")
    ax = axes[2]
    n_wise: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for row in table:
        n_wise.setdefault((row["width"], row["p"]), []).append(row)
    for (w, p), line in sorted(n_wise.items()):
        if len({row["n"] for row in line}) > 1:
            line = sorted(line, key=lambda row: row["n"])
            ax.plot(
                [row["n"] for row in line], [row["test_error"] for row in line], "o-", label=f"width {w:g}, p = {p:g}"
            )
    ax.set(xscale="log", xlabel="training examples n", ylabel="test error (final)", title="sample-wise")
    sizes = sorted({row["n"] for line in n_wise.values() if len({r["n"] for r in line}) > 1 for row in line})
    if sizes:
        ax.minorticks_off()
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    plots.save(fig, path)


def summary(table: list[dict[str, Any]]) -> str:
    emc = effective_complexity(table)
    header = ["width", "p", "n", "params", "train error", "test error", "best test error (curve), epoch", "EMC"]
    cells = [
        [
            f"{r['width']:g}",
            f"{r['p']:g}",
            r["n"],
            f"{r['params']:,}" if r["params"] else "–",
            tables.fmt(r["train_error"], 3),
            tables.fmt(r["test_error"], 3),
            f"{tables.fmt(r['best_test_error'], 3)}, {r['best_epoch'] if r['best_epoch'] is not None else '–'}",
            emc.get((r["model"], r["width"], r["p"]), "–" if r["train_error"] > EMC_ERROR else r["n"]),
        ]
        for r in table
    ]
    model = models.paper_name(table[0]["model"], True)
    text = [
        f"# Double descent under label noise: {model} (Nakkiran et al. 2019)\n",
        "Every run: Adam at a constant learning rate for the same epochs, no explicit regularizer, no early stop. "
        f"EMC: the largest n among a setting's runs fitted to training error <= {EMC_ERROR:g} (– where none is).\n",
        tables.markdown(header, cells, "rrrrrrrr"),
        "\n## The model-wise peak per p\n",
        f"The threshold: the first width at training error <= {EMC_ERROR:g}. The window: {PEAK_WINDOW[0]:g} to "
        f"{PEAK_WINDOW[1]:g} times it. A peak: the window's highest test error above the best of the narrower widths "
        "and above the best of the wider ones.\n",
        tables.markdown(
            [
                "p",
                "threshold width",
                "window's highest: width",
                "its test error",
                "best narrower",
                "best wider",
                "a peak",
            ],
            [
                [
                    f"{k['p']:g}",
                    f"{k['threshold_width']:g}" if k["threshold_width"] is not None else "none",
                    f"{k['peak_width']:g}" if k["peak_width"] is not None else "–",
                    tables.fmt(k["peak_test_error"], 3),
                    tables.fmt(k["best_narrower"], 3),
                    tables.fmt(k["best_wider"], 3),
                    "yes" if k["peak"] else "no",
                ]
                for k in peaks(model_wise(table))
            ],
            "rrrrrrl",
        ),
    ]
    return "\n".join(text)


FIELDS = (
    "model",
    "width",
    "p",
    "n",
    "params",
    "epochs",
    "train_error",
    "test_error",
    "best_test_error",
    "best_epoch",
    "fit_epoch",
)


def report(results_dir: str) -> str:
    """double_descent.md, .csv and .png in results_dir, from its records alone; returns the Markdown."""
    recs = records.load_all(results_dir)
    table = rows(recs)
    if not table:
        return f"No finished run of the double_descent experiment in {results_dir} yet."
    return plots.write_table_figure(results_dir, "double_descent", summary(table), table, FIELDS, draw, recs)


@dataclasses.dataclass(frozen=True)
class Options:
    """The experiment's own flags (rethink_tf.cli.define_options), the keyword arguments of grid."""

    dd_model: str = config_lib.setting("mlp_1x512", "Double descent: the architecture.", choices="models")
    dd_widths: tuple[float, ...] = config_lib.setting(
        WIDTHS,
        "Double descent: the widths (repeat the flag for each): the MLPs' hidden units, or AlexNet-small's and "
        "Inception-small's width multiplier.",
    )
    dd_levels: tuple[float, ...] = config_lib.setting(
        LEVELS, "Double descent: the label noise levels p (repeat the flag for each).", lower_bound=0.0, upper_bound=1.0
    )
    dd_train_size: int = config_lib.setting(1000, "Double descent: the model-wise grid's n.", lower_bound=1)
    dd_sample_sizes: tuple[int, ...] = config_lib.setting(
        SAMPLE_SIZES, "Double descent: the sample-wise grid's n (repeat the flag for each)."
    )
    dd_sample_width: float = config_lib.setting(
        64.0,
        "Double descent: the sample-wise grid's width, at the largest p; 0 = no sample-wise grid.",
        lower_bound=0.0,
    )
    dd_epochs: int = config_lib.setting(200, "Double descent: every run's epochs.", lower_bound=1)
    dd_learning_rate: float = config_lib.setting(
        1e-3, "Double descent: Adam's constant learning rate.", lower_bound=0.0
    )
    dd_image_size: int = config_lib.setting(
        14,
        "Double descent: every image brought to this side, grayscale (an MLP's input d = side^2, 196 at 14, so that "
        "the interpolation threshold of n examples lies within the widths); 0 = the data's own size.",
        lower_bound=0,
    )


EXPERIMENT = runner.Experiment("double_descent", report, runs=grid, options=Options, subdir="double_descent")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
