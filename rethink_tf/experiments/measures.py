"""Generalization measures against the generalization gap, over the runs of Table 1, Figure 1 and Table 4.

`python -m rethink_tf.experiments.measures --preset=laptop --results_dir=results/laptop` trains whatever of those
runs has no finished record (Table 4's under DIR/table4, where `make reproduce-table4` keeps them), gives every
finished run without measures its measures from its saved weights (nothing is retrained), then writes from the
records alone measures.md and measures.csv (each measure's Kendall tau with the gap over all runs, Jiang et al.
2019's granulated tau per hyperparameter axis and their mean Psi, and its tau with the label noise p per model)
and measures.png (each measure against p per model, Figure 1's sweep). The measures: docs/measures.md.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import measures, models, plots, records, tables
from rethink_tf.experiments import figure1, runner, table1, table4


@dataclasses.dataclass(frozen=True)
class Options(figure1.Options, table1.Options):
    """Table 1's and Figure 1's options (their grids are this one's): the keyword arguments of grid."""


# Jiang et al.'s granulated tau varies one hyperparameter and holds the others: the axes this grid varies.
AXES = ("p", "model", "weight decay", "random crop")


def grid(
    base: config_lib.RunConfig,
    random_label_seeds: int = 1,
    single_seed_models: tuple[str, ...] = (),
    corrupt_levels: tuple[float, ...] = figure1.LEVELS,
) -> runner.Runs:
    """Table 1's, Figure 1's and Table 4's runs, each once, with measures on whatever the preset says."""
    wanted = table1.labelled_runs(base, random_label_seeds, single_seed_models)
    wanted += figure1.grid(base, corrupt_levels)
    table4_dir = os.path.join(base.results_dir, table4.EXPERIMENT.subdir)
    wanted += table4.grid(dataclasses.replace(base, results_dir=table4_dir))
    out, seen = [], set()
    for label, cfg in wanted:
        if cfg.run_dir not in seen:
            seen.add(cfg.run_dir)
            out.append((label, dataclasses.replace(cfg, measures=True)))
    return out


def hyperparameters(r: records.RunRecord) -> dict[str, Any]:
    """A run's values of AXES, and of what else tells runs apart (the data, the corruption kind, the seed)."""
    c = r.config
    return {
        "p": float(r.label_noise),
        "model": config_lib.model_key(c.model, c.batch_norm),
        "weight decay": c.weight_decay > 0,
        "random crop": c.random_crop,
        "augment": c.augment,
        "pixels": c.corruption if c.corruption not in ("true_labels", *config_lib.ALL_LABELS_CORRUPTIONS) else "",
        "data": (c.dataset, c.train_size),
        "seed": c.seed,
    }


def measured(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finished runs that have their measures."""
    return [r for r in recs if r["status"] == records.FINISHED and (r.get("measures") or {}).get("values")]


def complexity(record: dict[str, Any], key: str) -> float:
    """The measure oriented as a complexity: larger is taken to predict a larger gap (the margin negated)."""
    return measures.MEASURES[key][1] * record["measures"]["values"].get(key, math.nan)  # nan: recorded before it


def _tau(recs: list[dict[str, Any]], key: str) -> float:
    pairs = [(complexity(r, key), r["final"]["generalization_gap"]) for r in recs]
    pairs = [(x, y) for x, y in pairs if not math.isnan(x)]
    return measures.kendall_tau(*zip(*pairs)) if len(pairs) > 1 else math.nan


def granulated_tau(recs: list[dict[str, Any]], key: str, axis: str) -> tuple[float, int]:
    """Jiang et al.'s granulated tau along one axis: the mean, over every setting of the other hyperparameters
    that has runs at two or more values of the axis, of the tau between measure and gap among those runs; and
    how many such groups there are (nan, 0 where there are none)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in recs:
        h = hyperparameters(r)
        groups.setdefault(tuple(sorted((k, str(v)) for k, v in h.items() if k != axis)), []).append(r)
    taus = [_tau(g, key) for g in groups.values() if len({str(hyperparameters(r)[axis]) for r in g}) > 1]
    taus = [t for t in taus if not math.isnan(t)]
    return (statistics.fmean(taus), len(taus)) if taus else (math.nan, 0)


def sweep(recs: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    """Figure 1's sweep of one model (no explicit regularizer, labels corrupted with p = 0 ... 1; the lowest
    seed), in order of p."""
    mine = [
        r
        for r in recs
        if r.config.model == model and r.config.batch_norm and not r.regularizers and not hyperparameters(r)["pixels"]
    ]
    return sorted(records.lowest_seed(mine), key=lambda r: hyperparameters(r)["p"])


def table(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per measure: its tau with the gap over all runs, granulated per axis, Psi, and its tau with p
    along each model's sweep."""
    out = []
    for key, (name, sign) in measures.MEASURES.items():
        row = {"measure": key, "name": name + (" (negated)" if sign < 0 else ""), "tau": _tau(recs, key)}
        for axis in AXES:
            row[f"tau {axis}"], row[f"groups {axis}"] = granulated_tau(recs, key, axis)
        present = [row[f"tau {axis}"] for axis in AXES if not math.isnan(row[f"tau {axis}"])]
        row["psi"] = statistics.fmean(present) if present else math.nan
        for model in figure1.SWEEP_MODELS:
            runs_p = [r for r in sweep(recs, model) if key in r["measures"]["values"]]  # not: recorded before it
            xs, ys = [hyperparameters(r)["p"] for r in runs_p], [r["measures"]["values"][key] for r in runs_p]
            row[f"tau p {model}"] = measures.kendall_tau(xs, ys) if len(runs_p) > 1 else math.nan
        out.append(row)
    return out


def series(recs: list[dict[str, Any]]) -> list[tuple[str, str, float, float]]:
    """(measure, model, p, value) along each model's sweep, with the gap as the panel "generalization_gap"."""
    rows = []
    for model in figure1.SWEEP_MODELS:
        for r in sweep(recs, model):
            p = hyperparameters(r)["p"]
            rows.append(("generalization_gap", model, p, r["final"]["generalization_gap"]))
            rows += [(key, model, p, r["measures"]["values"].get(key, math.nan)) for key in measures.MEASURES]
    return rows


def draw(rows: list[tuple[str, str, float, float]], path: str) -> None:
    panels = ["generalization_gap", *measures.MEASURES]
    fig, axes = plots.new_figure(len(panels), width=4.0, height=3.2, columns=4)
    by = plots.group(rows)
    for ax, panel in zip(axes, panels):
        for model in figure1.SWEEP_MODELS:
            points = sorted((x, y) for x, y in by.get((panel, model), []) if math.isfinite(y))
            if points:
                ax.plot(*zip(*points), "o-", color=figure1.COLORS[model], label=models.paper_name(model, True))
        title = "generalization gap" if panel == "generalization_gap" else measures.MEASURES[panel][0]
        ax.set(xlabel="label corruption p", title=title)
    axes[0].legend(fontsize=8)
    plots.save(fig, path)


def _fmt(value: float, groups: int | None = None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:+.2f}" + (f" ({groups})" if groups is not None else "")


def report(results_dir: str) -> str:
    """measures.md, measures.csv and measures.png in results_dir, from its records and those of its table4/;
    returns the Markdown."""
    recs = records.load_all(results_dir) + records.load_all(os.path.join(results_dir, table4.EXPERIMENT.subdir))
    done = [r for r in recs if r["status"] == records.FINISHED]
    have = measured(done)
    rows = table(have)
    setups = sorted({(c.dataset, c.train_size or "all") for c in (r.config for r in have)}, key=str)
    lines = [
        "# Generalization measures against the generalization gap",
        "",
        f"- {len(have)} finished runs with measures ({len(done) - len(have)} finished without them: run the "
        "experiment to add them); " + "; ".join(f"{dataset}, {n} training examples" for dataset, n in setups),
        "- tau: Kendall's tau-a (Jiang et al.'s eq. 3: a tied pair counts in the denominator only) between the "
        "measure (as a complexity: larger is taken to predict a larger gap) and "
        "the gap (final train minus test accuracy), over all runs; per axis: Jiang et al.'s granulated tau, the "
        "mean tau over the groups of runs that differ in that axis alone (how many groups in brackets); Psi: "
        "their mean; tau with p: the measure against the label noise along Figure 1's sweep of each model",
        "",
    ]
    header = ["measure", "tau", *(f"{a}" for a in AXES), "Psi"]
    header += [f"tau with p, {models.paper_name(m, True)}" for m in figure1.SWEEP_MODELS]
    cells = [
        [
            r["name"],
            _fmt(r["tau"]),
            *(_fmt(r[f"tau {a}"], r[f"groups {a}"]) for a in AXES),
            _fmt(r["psi"]),
            *(_fmt(r[f"tau p {m}"]) for m in figure1.SWEEP_MODELS),
        ]
        for r in rows
    ]
    text = "\n".join(lines) + "\n" + tables.markdown(header, cells, "l" + "r" * (len(header) - 1))
    text = tables.write(results_dir, "measures", text, rows, runs=done)
    plots.write_series(os.path.join(results_dir, "measures-series.csv"), series(have))
    draw(series(have), os.path.join(results_dir, "measures.png"))
    return f"{text}\nfigure: {os.path.join(results_dir, 'measures.png')}"


EXPERIMENT = runner.Experiment("measures", report, runs=grid, options=Options)

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
