"""Which examples are memorized: Feldman & Zhang's held-out estimator and empirical stability, crossed with the
paper's label corruption p (issue #43).

`python -m rethink_tf.experiments.memorization --preset=laptop --results_dir=results/laptop/memorization` trains,
per model and corruption level p, t runs (--memorization_runs) that differ only in --run_seed, each on a random
fraction m (--memorization_fraction, Feldman & Zhang's 0.7) of one training set with one set of (corrupted) labels,
the rest held out; every run keeps its per-example ledger (rethink_tf.ledger), its weights only with
--memorization_weights. The report, from the records and ledgers alone (rethink_tf.heldout), gives per model and p
the memorized fraction (mem >= 0.25) split into kept and changed labels, mean mem, negative estimates,
high-influence pairs (infl >= 0.15) on the curve-test examples, the spread of the estimate against t, and the
empirical stability (mean and worst over examples of the loss held out minus the loss trained on): memorization.md,
memorization.csv, memorization_scores.csv (per example), memorization_pairs.csv and PNG figures. Its runs
include Arpit et al.'s difficulty test (rethink_tf.experiments.difficulty, its --difficulty_* flags), whose
report follows, and then the learning order of every run here (rethink_tf.learning_order).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np

from rethink_tf import atomic, heldout, learning_order, ledger, models, plots, records, runs, tables
from rethink_tf import config as config_lib
from rethink_tf.errors import BadInput
from rethink_tf.experiments import difficulty, runner

TAG = "memorization"
MODELS = ("mlp_1x512", "alexnet_small")
LEVELS = (0.0, 0.5, 1.0)
COLORS = {"kept": "C0", "changed": "C3"}
# Feldman & Zhang (NeurIPS 2020): high-influence pairs at infl >= 0.15 with t = 4,000 runs (via a transcription,
# ../shared/FOLLOWUPS.md).
SOURCE_PAIRS = (("MNIST", 35), ("CIFAR-100", 1015), ("ImageNet", 1641))
SOURCE_RUNS = "t = 4,000 (MNIST, CIFAR-100), 2,000 (ImageNet)"
SCORE_FIELDS = (
    "model", "p", "m", "seed", "t", "index", "given_label", "true_label", "changed", "n_in", "n_out",
    "p_in", "p_out", "mem", "mem_se", "loss_in", "loss_out", "stab", "stab_se",
)  # fmt: skip
INFLUENCE_FIELDS = ("model", "p", "t", "pairs", "high", "high_beyond_2se", "negative_mirror", "median_se")
FIGURES = ("hist", "stability", "spread")
EXAMPLES = 8  # images per row of memorization_examples.png
PAIR_FIELDS = ("model", "p", "t", "train_index", "test_index", "infl", "se")


@dataclasses.dataclass(frozen=True)
class Options(difficulty.Options):
    """The memorization experiment's own flags (rethink_tf.cli.define_options), the keyword arguments of grid,
    and the difficulty test's (difficulty.Options), whose runs it trains too."""

    memorization_runs: int = config_lib.setting(
        4,
        "Memorization: runs t per model and corruption level, each on its own random --memorization_fraction of "
        "the training set (--run_seed 1..t). The default suits the smoke preset; the laptop preset sets its own "
        "(docs/memorization.md: the arithmetic), Feldman & Zhang used 2,000-4,000.",
        lower_bound=2,
    )
    memorization_model_runs: tuple[str, ...] = config_lib.setting(
        (),
        "Memorization: t for one architecture where it differs from --memorization_runs, as MODEL=T (repeat the "
        "flag for each), e.g. mlp_1x512=64: a cheap model gets more runs within the same time.",
    )
    memorization_fraction: float = config_lib.setting(
        0.7,
        "Memorization: the fraction m of the training set each run trains on (--train_fraction), the rest held "
        "out; Feldman & Zhang's 0.7.",
        lower_bound=0.0,
        upper_bound=1.0,
    )
    memorization_levels: tuple[float, ...] = config_lib.setting(
        LEVELS,
        "Memorization: the label corruption levels p (repeat the flag for each; 1 = random labels).",
        lower_bound=0.0,
        upper_bound=1.0,
    )
    memorization_models: tuple[str, ...] = config_lib.setting(
        MODELS, "Memorization: the architectures (repeat the flag for each), batch norm on.", choices="models"
    )
    memorization_weights: bool = config_lib.setting(
        False,
        "Memorization: keep each run's initial and final weights (t runs of 5-7 MB each); by default a run keeps "
        "its record and ledger only.",
    )


def run_config(
    base: config_lib.RunConfig, model: str, p: float, run_seed: int, fraction: float, weights: bool = False
) -> config_lib.RunConfig:
    """One held-out run: no explicit regularizer, label noise p (1: random labels, the same labels Figure 1's and
    Table 1's runs have), the random-label epoch budget where any label is random (they fit more slowly), a
    random `fraction` of the training set drawn by run_seed, its ledger kept, no generalization measures."""
    corruption, corrupt = ("random_labels", 0.0) if p == 1.0 else ("true_labels", p)
    return runs.unregularized(
        base,
        model=model,
        batch_norm=True,
        corruption=corruption,
        corrupt=corrupt,
        epochs=(base.random_label_epochs or base.epochs) if 0.0 < p < 1.0 else base.epochs,
        train_fraction=fraction,
        run_seed=run_seed,
        ledger=True,
        measures=False,
        save_weights=weights,
        csr_every=0,  # t runs per cell: no critical sample ratio curve (docs/csr.md), as no measures
        tag=TAG,
    )


def runs_per_model(models_: tuple[str, ...], t: int, overrides: tuple[str, ...]) -> dict[str, int]:
    """t of each model: --memorization_runs, or its MODEL=T entry of --memorization_model_runs."""
    out = dict.fromkeys(models_, t)
    for entry in overrides:
        name, _, value = entry.partition("=")
        if name not in out or not value.strip().isdigit() or int(value) < 2:
            raise config_lib.ConfigError(
                f"--memorization_model_runs={entry}: give MODEL=T with MODEL one of --memorization_models "
                f"({', '.join(out)}) and T >= 2 runs"
            )
        out[name] = int(value)
    return out


def grid(
    base: config_lib.RunConfig,
    memorization_runs: int = 4,
    memorization_model_runs: tuple[str, ...] = (),
    memorization_fraction: float = 0.7,
    memorization_levels: tuple[float, ...] = LEVELS,
    memorization_models: tuple[str, ...] = MODELS,
    memorization_weights: bool = False,
) -> runner.Runs:
    """The held-out runs, labelled for the progress lines: run seed by run seed (the spread against t takes the
    first t), each model's at the pace of its own t."""
    t_of = runs_per_model(tuple(dict.fromkeys(memorization_models)), memorization_runs, memorization_model_runs)
    if not 0.0 < memorization_fraction < 1.0:
        raise config_lib.ConfigError(
            f"--memorization_fraction={memorization_fraction:g}: the estimator needs runs that hold examples out; "
            "give a fraction in (0, 1), e.g. Feldman & Zhang's 0.7"
        )
    levels = tuple(sorted(set(memorization_levels)))
    # Ordered by the share of its t that each run completes, so that an experiment stopped early has the same
    # share of every model's runs, each level alike.
    wanted = sorted(
        ((k, m, p) for m in t_of for k in range(1, t_of[m] + 1) for p in levels),
        key=lambda kmp: (kmp[0] / t_of[kmp[1]], list(t_of).index(kmp[1]), kmp[0], kmp[2]),
    )
    n = len(wanted)
    return [
        (
            f"[memorization {i + 1}/{n} {models.paper_name(m, True)}, p = {p:g}, run {k}/{t_of[m]}]",
            run_config(base, m, p, k, memorization_fraction, memorization_weights),
        )
        for i, (k, m, p) in enumerate(wanted)
    ]


def all_runs(base: config_lib.RunConfig, **options) -> runner.Runs:
    """The held-out runs (grid, the memorization_* options) and then Arpit et al.'s difficulty runs
    (difficulty.grid, the difficulty_* options), in one results dir."""
    mine = {k: v for k, v in options.items() if not k.startswith("difficulty_")}
    theirs = {k: v for k, v in options.items() if k.startswith("difficulty_")}
    return grid(base, **mine) + difficulty.grid(base, **theirs)


@dataclasses.dataclass
class Group:
    """The runs of one training set (one model, data, label noise p, fraction m; differing in --run_seed alone)
    and their estimates."""

    model: str
    p: float
    m: float
    seed: int
    num_classes: int
    names: list[str]
    walls: list[float]  # each run's wall time (s)
    epochs: list[int]  # each run's epochs trained
    mem: heldout.Memorization
    infl: heldout.Influence
    spread: list[heldout.Spread]

    @property
    def t(self) -> int:
        return len(self.names)

    @property
    def wall_s(self) -> float:
        return sum(self.walls)

    @property
    def chance_target(self) -> float:
        """A fitted changed label that tests at chance: P[correct | in] = 1, P[correct | out] about 1/K."""
        return 1.0 - 1.0 / self.num_classes


def _is_mine(r: records.RunRecord) -> bool:
    c = r.config
    return r.finished and 0.0 < c.train_fraction < 1.0 and c.run_seed > 0


def _identity(r: records.RunRecord) -> str:
    """What the runs of one group share: the record's experiment block but the run seed."""
    return json.dumps({k: v for k, v in r["experiment"].items() if k != "run_seed"}, sort_keys=True)


def groups(results_dir: str) -> list[Group]:
    """Every group of finished held-out runs with ledgers in results_dir (at least 2 runs), ordered by model and
    p; each run's ledger's last row is its final state."""
    by: dict[str, list[records.RunRecord]] = {}
    for r in records.load_all(results_dir):
        if _is_mine(r):
            by.setdefault(_identity(r), []).append(r)
    out = []
    for recs in by.values():
        recs = sorted(recs, key=lambda r: r.config.run_seed)
        pairs = [(r, ledger.load(os.path.join(results_dir, r.run_name))) for r in recs]
        pairs = [(r, led) for r, led in pairs if led is not None and len(led.epochs)]
        if len(pairs) < 2:
            continue
        names = [r.run_name for r, _ in pairs]
        stacked = heldout.stack([led for _, led in pairs], names)
        c = pairs[0][0].config
        out.append(
            Group(
                model=c.model,
                p=pairs[0][0].label_noise,
                m=c.train_fraction,
                seed=c.seed,
                num_classes=int(pairs[0][0]["data"]["num_classes"]),
                names=names,
                walls=[float(r["wall_time_s"]) for r, _ in pairs],
                epochs=[len(r.epochs) for r, _ in pairs],
                mem=heldout.memorization(stacked),
                infl=heldout.influence(stacked),
                spread=heldout.spread(stacked),
            )
        )
    order = {m: i for i, m in enumerate(models.MODELS)}
    return sorted(out, key=lambda g: (order.get(g.model, len(order)), g.model, g.p, g.m, g.seed))


def _label(g: Group) -> str:
    return f"{models.paper_name(g.model, True)}, p = {g.p:g}"


def summary_rows(gs: list[Group]) -> list[dict[str, Any]]:
    """One row per group and subset (all, kept, changed labels): memorization and stability summaries."""
    out = []
    for g in gs:
        for subset, which in (("all", None), ("kept", ~g.mem.changed), ("changed", g.mem.changed)):
            s = heldout.summarize(g.mem, which)
            if not s.examples:
                continue
            out.append({"model": g.model, "p": g.p, "m": g.m, "t": g.t, "labels": subset, **dataclasses.asdict(s)})
    return out


def score_rows(gs: list[Group]) -> list[dict[str, Any]]:
    """Per training example of every group: its canonical index, given and true label and the estimates."""
    out = []
    for g in gs:
        e = g.mem
        for i in range(len(e.index)):
            out.append(
                {
                    "model": g.model,
                    "p": g.p,
                    "m": g.m,
                    "seed": g.seed,
                    "t": g.t,
                    "index": int(e.index[i]),
                    "given_label": int(e.label[i]),
                    "true_label": int(e.true_label[i]),
                    "changed": bool(e.changed[i]),
                    "n_in": int(e.n_in[i]),
                    "n_out": int(e.n_out[i]),
                    "p_in": _num(e.p_in[i]),
                    "p_out": _num(e.p_out[i]),
                    "mem": _num(e.mem[i]),
                    "mem_se": _num(e.se[i]),
                    "loss_in": _num(e.loss_in[i]),
                    "loss_out": _num(e.loss_out[i]),
                    "stab": _num(e.stab[i]),
                    "stab_se": _num(e.stab_se[i]),
                }
            )
    return out


def _csv(results_dir: str, name: str, rows: list[dict[str, Any]], fields: tuple[str, ...]) -> None:
    atomic.write_text(os.path.join(results_dir, f"{name}.csv"), tables.csv_text(rows, fields))


def _num(x: float) -> str:
    return "" if not np.isfinite(x) else f"{float(x):.6g}"


def influence_rows(gs: list[Group]) -> list[dict[str, Any]]:
    """Per group: how many (training, curve-test) pairs are at infl >= 0.15, how many of them also exceed twice
    their SE, and how many at infl <= -0.15 (influence should not be negative: that count is the noise floor)."""
    out = []
    for g in gs:
        infl = np.nan_to_num(g.infl.infl, nan=0.0)
        high = infl >= heldout.INFL_THRESHOLD
        out.append(
            {
                "model": g.model,
                "p": g.p,
                "t": g.t,
                "pairs": int(np.isfinite(g.infl.infl).sum()),
                "high": int(high.sum()),
                "high_beyond_2se": int((high & (infl > 2 * np.nan_to_num(g.infl.se, nan=np.inf))).sum()),
                "negative_mirror": int((infl <= -heldout.INFL_THRESHOLD).sum()),
                "median_se": float(np.nanmedian(g.infl.se)) if np.isfinite(g.infl.se).any() else np.nan,
            }
        )
    return out


def pair_rows(gs: list[Group], limit: int = 1000) -> list[dict[str, Any]]:
    """The high-influence pairs of every group (at most `limit` per group, highest first)."""
    return [
        {"model": g.model, "p": g.p, "t": g.t, "train_index": i, "test_index": j, "infl": f"{v:.4f}", "se": f"{s:.4f}"}
        for g in gs
        for i, j, v, s in g.infl.pairs()[:limit]
    ]


def class_rows(gs: list[Group]) -> list[dict[str, Any]]:
    """Kept labels of each class (true labels, p = 0 groups): held-out accuracy (how easy the class is), mean mem
    and the memorized fraction; Feldman & Zhang's target: easy classes' kept labels near 0."""
    out = []
    for g in gs:
        if g.p != 0.0:
            continue
        e = g.mem
        for k in range(g.num_classes):
            which = e.estimated & ~e.changed & (e.label == k)
            if not which.any():
                continue
            out.append(
                {
                    "model": g.model,
                    "class": k,
                    "examples": int(which.sum()),
                    "p_out": float(e.p_out[which].mean()),
                    "mean_mem": float(e.mem[which].mean()),
                    "memorized_fraction": float((e.mem[which] >= heldout.MEM_THRESHOLD).mean()),
                }
            )
    return sorted(out, key=lambda r: (r["model"], -r["p_out"]))


def draw_histograms(gs: list[Group], path: str) -> None:
    """mem of kept and changed labels, one panel per model and p, the threshold and 1 - 1/K marked."""
    fig, axes = plots.new_figure(len(gs), width=3.6, height=3.0, columns=min(len(gs), 3))
    bins = np.linspace(-1, 1, 41)
    for ax, g in zip(axes, gs, strict=True):
        e = g.mem
        for name, which in (("kept", ~e.changed), ("changed", e.changed)):
            values = e.mem[which & e.estimated]
            if len(values):
                ax.hist(values, bins=bins, alpha=0.6, color=COLORS[name], label=f"{name} ({len(values)})")
        ax.axvline(heldout.MEM_THRESHOLD, color="k", linestyle=":", linewidth=1, label="mem = 0.25")
        ax.axvline(g.chance_target, color="C3", linestyle="--", linewidth=1, label="1 - 1/K")
        ax.set(title=f"{_label(g)} (t = {g.t})", xlabel="mem", ylabel="training examples")
        ax.legend(fontsize=6)
    plots.save(fig, path)


def draw_stability(gs: list[Group], path: str) -> None:
    """Per model: the mean and the worst (max) over examples of loss held out - loss trained on, against p."""
    names = list(dict.fromkeys(g.model for g in gs))
    fig, axes = plots.new_figure(len(names), width=4.2, height=3.4)
    for ax, name in zip(axes, names, strict=True):
        mine = [g for g in gs if g.model == name]
        ps = [g.p for g in mine]
        summaries = [heldout.summarize(g.mem) for g in mine]
        ax.plot(ps, [s.mean_stab for s in summaries], "o-", color="C0", label="mean over examples")
        ax.plot(ps, [s.max_stab for s in summaries], "s--", color="C3", label="worst (max) over examples")
        ax.set(
            title=models.paper_name(name, True),
            xlabel="label corruption p",
            ylabel="final loss held out - trained on",
        )
        ax.axhline(0, color="k", linewidth=0.5)
        ax.legend(fontsize=7)
    plots.save(fig, path)


def draw_spread(gs: list[Group], path: str) -> None:
    """Per model: mean |mem_t - mem_T| (solid) and the mean SE of mem_t (dashed) against t, a line per p."""
    names = list(dict.fromkeys(g.model for g in gs))
    fig, axes = plots.new_figure(len(names), width=4.2, height=3.4)
    for ax, name in zip(axes, names, strict=True):
        for i, g in enumerate(g for g in gs if g.model == name):
            ts = [s.t for s in g.spread]
            ax.plot(
                ts, [s.mean_abs_change for s in g.spread], "o-", color=f"C{i}", label=f"p = {g.p:g}: |mem_t - mem_T|"
            )
            ax.plot(ts, [s.mean_se for s in g.spread], "x--", color=f"C{i}", label=f"p = {g.p:g}: SE")
        ts = sorted({s.t for g in gs if g.model == name for s in g.spread})
        ax.set(title=models.paper_name(name, True), xlabel="runs t", ylabel="mean over examples", xscale="log")
        ax.set_xticks(ts, [str(t) for t in ts])
        ax.minorticks_off()
        ax.legend(fontsize=6)
    plots.save(fig, path)


def draw_examples(gs: list[Group], config: config_lib.RunConfig, path: str, count: int = EXAMPLES) -> str:
    """Per model on true labels (p = 0): the `count` training images with the highest mem (memorized: fitted
    when trained on, missed when held out) above the `count` easiest (the highest held-out accuracy, mem nearest
    0), each with its label, mem and P[correct | held out]; read from the run's data set (rethink_tf.data). Returns
    the report's line about it."""
    from rethink_tf.data import sources  # the images only: the estimates need none of it

    true_labels = [g for g in gs if g.p == 0.0 and g.mem.estimated.any()]
    if not true_labels:
        return ""
    try:
        raw = sources.load_for(config)
    except (BadInput, OSError) as e:
        return f"Example images not drawn: {str(e).splitlines()[0]}"
    names = raw.class_names
    fig, axes = plots.new_figure(2 * count * len(true_labels), width=1.25, height=1.5, columns=count)
    for row, g in enumerate(true_labels):
        e = g.mem
        ids = np.flatnonzero(e.estimated)
        memorized = ids[np.lexsort((e.se[ids], -e.mem[ids]))][:count]
        easiest = ids[np.lexsort((np.abs(e.mem[ids]), -e.p_out[ids]))][:count]
        for col, (kind, i) in enumerate([("memorized", i) for i in memorized] + [("easiest", i) for i in easiest]):
            ax = axes[2 * count * row + col]
            image = raw.train.images[int(e.index[i])]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            label = names[int(e.label[i])] if names else f"class {int(e.label[i])}"
            ax.set_title(f"{label}\nmem {e.mem[i]:.2f}, out {e.p_out[i]:.2f}", fontsize=6)
            if col % count == 0:
                ax.set_ylabel(f"{models.paper_name(g.model, True)}\n{kind}", fontsize=7)
    plots.save(fig, path)
    return (
        f"Training images on true labels, per model: the {count} with the highest mem (top row) and the {count} "
        f"easiest (highest held-out accuracy; bottom row), each with mem and P[correct | held out]: {path}"
    )


def _runs_table(gs: list[Group]) -> str:
    """Per group: runs, epochs trained and wall time per run (mean and range), seconds per epoch: what t costs."""
    cells = [
        [
            _label(g),
            g.t,
            f"{np.mean(g.epochs):.1f} ({min(g.epochs)}-{max(g.epochs)})",
            f"{np.mean(g.walls):.1f} ({min(g.walls):.1f}-{max(g.walls):.1f})",
            f"{sum(g.walls) / max(sum(g.epochs), 1):.2f}",
        ]
        for g in gs
    ]
    header = ["model, p", "runs", "epochs (range)", "wall s per run (range)", "s per epoch"]
    return tables.markdown(header, cells, "lrrrr")


def _f(x: float, digits: int = 3) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _memorization_table(gs: list[Group]) -> str:
    cells = []
    for g in gs:
        s_all = heldout.summarize(g.mem)
        s_kept = heldout.summarize(g.mem, ~g.mem.changed)
        s_chg = heldout.summarize(g.mem, g.mem.changed)

        def part(s):
            if not s.estimated:
                return "–", "–"
            return (
                f"{s.memorized}/{s.estimated} ({s.memorized_fraction:.1%})",
                f"{_f(s.mean_mem)} ± {_f(s.mean_mem_se)}",
            )

        kept_frac, kept_mean = part(s_kept)
        chg_frac, chg_mean = part(s_chg)
        gap = "–" if not s_chg.estimated else f"{s_chg.mean_mem - g.chance_target:+.3f}"
        cells.append(
            [
                _label(g),
                g.t,
                f"{s_all.memorized}/{s_all.estimated} ({s_all.memorized_fraction:.1%})",
                kept_frac,
                kept_mean,
                chg_frac,
                chg_mean,
                gap,
                f"{s_all.negative} ({s_all.negative / max(s_all.estimated, 1):.1%})",
            ]
        )
    return tables.markdown(
        [
            "model, p",
            "t",
            "memorized (mem >= 0.25)",
            "kept: memorized",
            "kept: mean mem",
            "changed: memorized",
            "changed: mean mem",
            "changed - (1 - 1/K)",
            "negative mem",
        ],
        cells,
        "lrrrrrrrr",
    )


def _stability_table(gs: list[Group]) -> str:
    cells = []
    for g in gs:
        s_all = heldout.summarize(g.mem)
        s_kept = heldout.summarize(g.mem, ~g.mem.changed)
        s_chg = heldout.summarize(g.mem, g.mem.changed)
        e = g.mem.estimated
        cells.append(
            [
                _label(g),
                g.t,
                _f(float(np.mean(g.mem.loss_in[e])) if e.any() else np.nan),
                _f(float(np.mean(g.mem.loss_out[e])) if e.any() else np.nan),
                _f(s_all.mean_stab),
                _f(s_all.max_stab),
                _f(s_kept.mean_stab),
                _f(s_chg.mean_stab),
            ]
        )
    return tables.markdown(
        [
            "model, p",
            "t",
            "loss trained on",
            "loss held out",
            "mean stab",
            "worst stab",
            "kept: mean",
            "changed: mean",
        ],
        cells,
        "lrrrrrrr",
    )


def _stability_verdicts(gs: list[Group]) -> list[str]:
    """Per model with both p = 0 and p = 1: whether the mean and the worst stability tell them apart (the mean
    differs by more than 3 standard errors over examples)."""
    lines = []
    for name in dict.fromkeys(g.model for g in gs):
        by_p = {g.p: g for g in gs if g.model == name}
        if 0.0 not in by_p or 1.0 not in by_p:
            continue
        values = {}
        for p in (0.0, 1.0):
            e = by_p[p].mem
            s = e.stab[e.estimated]
            values[p] = (s.mean(), s.std(ddof=1) / np.sqrt(len(s)) if len(s) > 1 else np.nan, s.max())
        (m0, se0, w0), (m1, se1, w1) = values[0.0], values[1.0]
        z = (m1 - m0) / np.hypot(se0, se1) if np.isfinite(se0) and np.isfinite(se1) and (se0 or se1) else np.nan
        verdict = "tells them apart" if np.isfinite(z) and abs(z) > 3 else "does not tell them apart"
        lines.append(
            f"- {models.paper_name(name, True)}: mean stab {m0:.3f} ± {se0:.3f} (true labels) vs {m1:.3f} ± {se1:.3f} "
            f"(random labels), {z:+.1f} standard errors apart: the mean {verdict}; worst {w0:.3f} vs {w1:.3f}."
        )
    return lines


def _influence_table(rows: list[dict[str, Any]]) -> str:
    cells = [
        [
            f"{models.paper_name(r['model'], True)}, p = {r['p']:g}",
            r["t"],
            f"{r['pairs']:,}",
            r["high"],
            r["high_beyond_2se"],
            r["negative_mirror"],
            _f(r["median_se"]),
        ]
        for r in rows
    ]
    return tables.markdown(
        ["model, p", "t", "pairs", "infl >= 0.15", "and > 2 SE", "infl <= -0.15 (noise floor)", "median SE"],
        cells,
        "lrrrrrr",
    )


def _spread_table(gs: list[Group]) -> str:
    cells = [
        [
            _label(g),
            s.t,
            _f(s.mean_abs_change),
            _f(s.mean_se),
            s.estimated,
            _f(s.memorized_fraction),
        ]
        for g in gs
        for s in g.spread
    ]
    return tables.markdown(
        ["model, p", "t", "mean |mem_t - mem_T|", "mean SE", "examples estimated", "memorized fraction"],
        cells,
        "lrrrrr",
    )


def _class_table(rows: list[dict[str, Any]]) -> str:
    cells = [
        [
            models.paper_name(r["model"], True),
            r["class"],
            r["examples"],
            _f(r["p_out"]),
            _f(r["mean_mem"]),
            _f(r["memorized_fraction"]),
        ]
        for r in rows
    ]
    return tables.markdown(
        ["model", "class", "examples", "held-out accuracy", "mean mem", "memorized fraction"], cells, "lrrrrr"
    )


def held_out_report(results_dir: str) -> str:
    """memorization.md, memorization.csv (the summaries), memorization_scores.csv (per example),
    memorization_pairs.csv (high-influence pairs), memorization_influence.csv and memorization_hist.png,
    memorization_stability.png, memorization_spread.png in results_dir, from its records and ledgers; returns the
    Markdown."""
    gs = groups(results_dir)
    recs = [r for r in records.load_all(results_dir) if _is_mine(r)]
    head = ["# Which examples are memorized: Feldman & Zhang's held-out estimator, by label corruption p", ""]
    if not gs:
        text = "\n".join(head + ["No finished held-out runs with ledgers (at least 2 per model and p) yet.", ""])
        return tables.write(results_dir, "memorization", text, runs=recs)
    setups = sorted(
        {(r.config.dataset, r["data"]["train_examples"], r.config.train_size or "all") for r in recs}, key=str
    )
    wall = sum(sum(g.walls) for g in gs)
    head += [
        f"- {dataset}: {n_in} of {n} training examples per run (m = {', '.join(sorted({f'{g.m:g}' for g in gs}))}), "
        f"the rest held out; final = the ledger's last epoch (stop at 100% training accuracy where the preset says)"
        for dataset, n_in, n in setups
    ]
    head += [
        f"- {sum(g.t for g in gs)} runs, {wall:.0f} s ({wall / 60:.1f} min) of training in all; "
        f"Feldman & Zhang: {SOURCE_RUNS}",
        "- mem(i) = P[correct on i | trained on i] - P[correct on i | held out] (correct: the argmax is the label "
        "trained on, changed or not), ± its two-sample binomial SE (Agresti & Caffo's) per example; below, ± is "
        "the SE of the mean over examples. Negative estimates are kept (not clipped) and counted.",
        "",
        "## Memorized examples, kept and changed labels",
        "",
        _memorization_table(gs),
        "Target (derived, ../shared/FOLLOWUPS.md): a changed label that is fitted and tests at chance has "
        "mem near 1 - 1/K (0.9 for 10 classes); kept labels of easy classes near 0.",
        "",
    ]
    classes = class_rows(gs)
    if classes:
        head += [
            "### Kept labels by class (p = 0), easiest (highest held-out accuracy) first",
            "",
            _class_table(classes),
        ]
    influence = influence_rows(gs)
    head += [
        "## High-influence pairs (infl >= 0.15) on the curve-test examples",
        "",
        _influence_table(influence),
        "Influence should not be negative, so the count at infl <= -0.15 is what noise alone gives at this t. "
        "Feldman & Zhang (t = 4,000, the whole test set): "
        + ", ".join(f"{name} {n:,} pairs" for name, n in SOURCE_PAIRS)
        + ".",
        "",
        "## Empirical stability: final loss held out - final loss trained on, per example",
        "",
        _stability_table(gs),
        *_stability_verdicts(gs),
        "",
        "## Spread of the estimate against t (the first t runs against all T)",
        "",
        _spread_table(gs),
        "figures: " + ", ".join(os.path.join(results_dir, f"memorization_{n}.png") for n in FIGURES),
        "",
        "## The runs: epochs and wall time (each record's wall_time_s)",
        "",
        _runs_table(gs),
    ]
    os.makedirs(results_dir, exist_ok=True)
    examples = os.path.join(results_dir, "memorization_examples.png")
    head += [draw_examples(gs, recs[0].config, examples), ""]
    draw_histograms(gs, os.path.join(results_dir, "memorization_hist.png"))
    draw_stability(gs, os.path.join(results_dir, "memorization_stability.png"))
    draw_spread(gs, os.path.join(results_dir, "memorization_spread.png"))
    _csv(results_dir, "memorization_scores", score_rows(gs), SCORE_FIELDS)
    _csv(results_dir, "memorization_influence", influence, INFLUENCE_FIELDS)
    _csv(results_dir, "memorization_pairs", pair_rows(gs), PAIR_FIELDS)
    return tables.write(results_dir, "memorization", "\n".join(head), summary_rows(gs), runs=recs)


def report(results_dir: str) -> str:
    """The experiment's report: the held-out estimates (held_out_report), Arpit et al.'s difficulty test
    (difficulty.report), then the learning order and forgetting of every run with a ledger here
    (rethink_tf.learning_order), each section also in its own files."""
    sections = [held_out_report(results_dir), difficulty.report(results_dir), learning_order.report(results_dir)]
    return "\n\n".join(sections)


EXPERIMENT = runner.Experiment("memorization", report, runs=all_runs, options=Options, subdir="memorization")

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
