"""What a run's per-example ledger shows, from the ledger alone: when each training example was first learned
and learned for good, how often it was forgotten (Toneva et al. 2019), the order in which examples were learned,
kept and changed labels side by side (Arpit et al. 2017: changed labels are learned after kept ones), and the
record's kept / changed accuracies derived again from the per-example rows.

numpy only at import: the report imports the records, tables and plots it writes with when it runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from rethink_tf import ledger as ledger_lib

NAME = "learning_order"
NEVER = -1  # the epoch of an example never learned (or never learned for good)
# The record's per-epoch keys the ledger derives again: its rows hold correctness under the label trained on
# only, so "train_changed_true_accuracy" (argmax == the true label of a changed example) cannot be derived.
DERIVED_KEYS = ("train_kept_accuracy", "train_changed_accuracy")
LABELS = ("kept", "changed")
SETS = ("trained", "held out")


@dataclasses.dataclass(frozen=True)
class Examples:
    """Per training example of a ledger (ledger.train's order): the first recorded epoch at which it is correct,
    the first epoch from which it stays correct to the last recorded one (Toneva et al.'s "learned for good"),
    both NEVER where there is none; its forgetting events (correct at one recorded epoch, incorrect at the next);
    whether the corruption changed it (its label, or a partial input corruption its input) and whether it was
    trained on (False: held out by --train_fraction)."""

    first_learned: np.ndarray  # int32 [N]
    learned_for_good: np.ndarray  # int32 [N]
    forgetting_events: np.ndarray  # int32 [N]
    changed: np.ndarray  # bool [N]
    trained: np.ndarray  # bool [N]

    @property
    def never_learned(self) -> np.ndarray:
        """Never correct at any recorded epoch."""
        return self.first_learned == NEVER

    @property
    def never_forgotten(self) -> np.ndarray:
        """Correct at some recorded epoch and never forgotten afterwards (Toneva et al.'s "unforgettable")."""
        return ~self.never_learned & (self.forgetting_events == 0)


def per_example(epochs: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first learned epoch, learned-for-good epoch, forgetting events) of each column of correct [E, N], whose
    rows are the recorded `epochs` [E] in order; NEVER where an example has no such epoch."""
    epochs, correct = np.asarray(epochs, np.int32), np.asarray(correct, bool)
    rows, n = correct.shape
    if rows == 0:
        never = np.full(n, NEVER, np.int32)
        return never, never.copy(), np.zeros(n, np.int32)
    first = np.where(correct.any(axis=0), epochs[np.argmax(correct, axis=0)], NEVER).astype(np.int32)
    # The row after the last incorrect one (row 0 where none was incorrect), if the example ends correct.
    wrong = ~correct
    after_last_wrong = np.where(wrong.any(axis=0), rows - np.argmax(wrong[::-1], axis=0), 0)
    good = np.where(correct[-1], epochs[np.minimum(after_last_wrong, rows - 1)], NEVER).astype(np.int32)
    forgetting = (correct[:-1] & wrong[1:]).sum(axis=0).astype(np.int32)
    return first, good, forgetting


def examples(ledger: ledger_lib.Ledger) -> Examples:
    """The per-example facts of the ledger's training examples (trained on and held out)."""
    first, good, forgetting = per_example(ledger.epochs, ledger.train.correct)
    return Examples(first, good, forgetting, ledger.train.changed, np.asarray(ledger.trained, bool))


def learning_order(ex: Examples) -> np.ndarray:
    """Positions of the examples (in ledger.train's order) from the first learned to the last, never-learned
    ones last; examples first learned at the same epoch keep their canonical order."""
    return np.argsort(np.where(ex.never_learned, np.iinfo(np.int32).max, ex.first_learned), kind="stable")


def median_epoch(first_learned: np.ndarray) -> int | None:
    """The epoch by which half of a group had been learned (the lower median of first-learned epochs, an example
    never learned counting as later than every epoch); None for an empty group or one whose half was never
    learned."""
    learned = np.sort(first_learned[first_learned != NEVER])
    needed = math.ceil(len(first_learned) / 2)
    return int(learned[needed - 1]) if len(first_learned) and len(learned) >= needed else None


@dataclasses.dataclass(frozen=True)
class Summary:
    """One group of examples: its size, median_epoch of its first-learned epochs, its mean forgetting events per
    example and the fractions never forgotten and never learned; None for an empty group."""

    examples: int
    median_first_learned: int | None
    mean_forgetting_events: float | None
    never_forgotten: float | None
    never_learned: float | None


def summarize(ex: Examples, mask: np.ndarray) -> Summary:
    """The Summary of the examples where mask is True."""
    n = int(np.sum(mask))
    if not n:
        return Summary(0, None, None, None, None)
    return Summary(
        n,
        median_epoch(ex.first_learned[mask]),
        float(np.mean(ex.forgetting_events[mask])),
        float(np.mean(ex.never_forgotten[mask])),
        float(np.mean(ex.never_learned[mask])),
    )


def split(ex: Examples) -> dict[tuple[str, str], Summary]:
    """Summaries by (set, label): ("trained", "kept"), ("trained", "changed") always, and the same for "held out"
    where the run held examples out (--train_fraction < 1)."""
    sets = {"trained": ex.trained, "held out": ~ex.trained}
    labels = {"kept": ~ex.changed, "changed": ex.changed}
    return {
        (s, lab): summarize(ex, sets[s] & labels[lab])
        for s in SETS
        if s == "trained" or np.any(sets[s])
        for lab in LABELS
    }


def changed_after_kept(kept: Summary, changed: Summary) -> bool | None:
    """Arpit et al.'s observation for one run: whether the changed labels' median first-learned epoch comes after
    the kept labels' (a half never learned counting as later than every epoch); None when either group is empty
    or neither reached half."""
    if not kept.examples or not changed.examples:
        return None
    k, c = kept.median_first_learned, changed.median_first_learned
    if k is None and c is None:
        return None
    return k is not None and (c is None or c > k)


def label_split(ledger: ledger_lib.Ledger) -> list[dict[str, float]]:
    """The record's per-epoch kept / changed training accuracies derived from the ledger: for each recorded epoch,
    {"epoch", "train_kept_accuracy", "train_changed_accuracy"}, the mean of `correct` over the trained examples whose
    label was kept / changed (NaN for an empty group, as callbacks.label_split_accuracies has it). The accuracy of
    changed examples against their true label is not derivable (DERIVED_KEYS says why)."""
    trained = np.asarray(ledger.trained, bool)
    groups = dict(zip(DERIVED_KEYS, (trained & ~ledger.train.changed, trained & ledger.train.changed)))
    out = []
    for row, epoch in enumerate(ledger.epochs):
        values = {
            key: float(np.mean(ledger.train.correct[row, mask])) if np.any(mask) else float("nan")
            for key, mask in groups.items()
        }
        out.append({"epoch": int(epoch), **values})
    return out


# ------------------------------------------------------------------------------------------------------------
# The report over a results directory: learning_order.md, .csv (one row per run) and .png (+ its series' CSV)
# ------------------------------------------------------------------------------------------------------------

FIELDS = (
    "run",
    "model",
    "corruption",
    "p",
    "status",
    "epochs",
    "trained",
    "held_out",
    "changed",
    "median_first_learned_kept",
    "median_first_learned_changed",
    "changed_learned_after_kept",
    "mean_forgetting_kept",
    "mean_forgetting_changed",
    "never_forgotten_kept",
    "never_forgotten_changed",
    "never_learned",
    "never_learned_kept",
    "never_learned_changed",
    "held_out_median_first_learned_kept",
    "held_out_median_first_learned_changed",
    "held_out_never_learned_kept",
    "held_out_never_learned_changed",
)


def ledgers(results_dir: str) -> list[tuple[Any, ledger_lib.Ledger]]:
    """(record, ledger) of every run of results_dir whose ledger has more than one recorded epoch, in name order
    (a run's directory is results_dir/<its run name>, as records.load_all reads it)."""
    from rethink_tf import records

    out = []
    for record in records.load_all(results_dir):
        found = ledger_lib.load(os.path.join(results_dir, record.run_name))
        if found is not None and len(found.epochs) > 1:
            out.append((record, found))
    return out


def run_row(record, ledger: ledger_lib.Ledger) -> dict[str, Any]:
    """One run's row of learning_order.csv (FIELDS; None where a group is empty)."""
    from rethink_tf import config as config_lib

    ex = examples(ledger)
    parts = split(ex)
    kept, changed = parts["trained", "kept"], parts["trained", "changed"]
    held = {lab: parts.get(("held out", lab)) for lab in LABELS}
    cfg = record.config
    return {
        "run": record.run_name,
        "model": config_lib.model_key(cfg.model, cfg.batch_norm),
        "corruption": cfg.corruption,
        "p": cfg.corruption_p,
        "status": record.status,
        "epochs": len(ledger.epochs),
        "trained": int(ex.trained.sum()),
        "held_out": int((~ex.trained).sum()),
        "changed": changed.examples,
        "median_first_learned_kept": kept.median_first_learned,
        "median_first_learned_changed": changed.median_first_learned,
        "changed_learned_after_kept": changed_after_kept(kept, changed),
        "mean_forgetting_kept": kept.mean_forgetting_events,
        "mean_forgetting_changed": changed.mean_forgetting_events,
        "never_forgotten_kept": kept.never_forgotten,
        "never_forgotten_changed": changed.never_forgotten,
        "never_learned": summarize(ex, ex.trained).never_learned,
        "never_learned_kept": kept.never_learned,
        "never_learned_changed": changed.never_learned,
        "held_out_median_first_learned_kept": held["kept"] and held["kept"].median_first_learned,
        "held_out_median_first_learned_changed": held["changed"] and held["changed"].median_first_learned,
        "held_out_never_learned_kept": held["kept"] and held["kept"].never_learned,
        "held_out_never_learned_changed": held["changed"] and held["changed"].never_learned,
    }


def panel_key(record) -> str:
    """The figure's panel of a run: its model, corruption, p and regularizers; the seeds of one setting pooled."""
    from rethink_tf import config as config_lib

    cfg = record.config
    what = [config_lib.model_key(cfg.model, cfg.batch_norm), cfg.corruption, f"p={cfg.corruption_p:g}"]
    return " ".join(what + sorted(record.regularizers))


RECORDED = "recorded epochs"  # the figure's series of a panel's extent: x its runs' most epochs, y how many runs


def series(pairs: list[tuple[Any, ledger_lib.Ledger]]) -> list[tuple[str, str, float, float]]:
    """(panel, "kept" | "changed", first-learned epoch (NEVER: never learned), fraction of the group) over the
    trained examples of every run of a panel, pooled (a group with no example draws nothing), and per panel
    (panel, RECORDED, its runs' most recorded epochs, its number of runs)."""
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    extent: dict[str, list[int]] = {}
    for record, ledger in pairs:
        ex = examples(ledger)
        key = panel_key(record)
        groups = pooled.setdefault(key, {lab: [] for lab in LABELS})
        extent.setdefault(key, []).append(int(ledger.epochs[-1]))
        for lab, mask in (("kept", ~ex.changed), ("changed", ex.changed)):
            groups[lab].append(ex.first_learned[ex.trained & mask])
    rows = []
    for panel, groups in pooled.items():
        for lab in LABELS:
            first = np.concatenate(groups[lab])
            if not len(first):
                continue
            epochs, counts = np.unique(first, return_counts=True)
            rows += [(panel, lab, float(e), float(c / len(first))) for e, c in zip(epochs, counts)]
        rows.append((panel, RECORDED, float(max(extent[panel])), float(len(extent[panel]))))
    return rows


def draw(rows: list[tuple[str, str, float, float]], path: str) -> None:
    """Per panel, the fraction of kept and of changed labels first learned at each epoch, side by side, the never
    learned at the right; dashed lines at each group's median (median_epoch)."""
    from rethink_tf import plots

    by = plots.group(rows)
    panels = list(dict.fromkeys(panel for panel, _ in by)) or ["no run with a ledger of more than one epoch"]
    fig, axes = plots.new_figure(len(panels), width=5.5, height=3.6, columns=min(3, len(panels)))
    colors = {"kept": "C0", "changed": "C3"}
    for ax, panel in zip(axes, panels):
        ((last, runs),) = by.get((panel, RECORDED), [(1.0, 0.0)])
        never_x = last + 1
        for offset, lab in zip((-0.2, 0.2), LABELS):
            points = by.get((panel, lab))
            if not points:
                continue
            xs = [never_x if x == NEVER else x for x, _ in points]
            ax.bar([x + offset for x in xs], [y for _, y in points], width=0.4, color=colors[lab], label=lab)
            # The median from the fractions: the first epoch whose cumulative fraction reaches one half.
            ordered = sorted(zip(xs, (y for _, y in points)))
            cumulative = np.cumsum([y for _, y in ordered])
            median = next((x for (x, _), c in zip(ordered, cumulative) if c >= 0.5 - 1e-9 and x != never_x), None)
            if median is not None:
                ax.axvline(median, color=colors[lab], linestyle="--", linewidth=1)
        ax.set_xlim(0.4, never_x + 0.6)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ticks = [t for t in ax.get_xticks() if 1 <= t <= last]
        ax.set_xticks([*ticks, never_x], [f"{t:g}" for t in ticks] + ["never"])
        title = f"{panel} ({runs:g} run{'s' if runs != 1 else ''})" if runs else panel
        ax.set(xlabel="first-learned epoch", ylabel="fraction of the group", title=title)
        ax.title.set_fontsize(9)
        if by:
            ax.legend(fontsize=7)
    plots.save(fig, path)


def _fmt(value, kind: str) -> str:
    from rethink_tf import tables

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "yes":
        return "yes" if value else "no"
    if kind == "%":
        return f"{value:.0%}"
    return tables.fmt(value, 2) if kind == "f" else str(value)


# (Markdown column, row key, format): "d" as is, "f" two decimals, "%" percent, "yes" yes/no.
TABLE = (
    ("run", "run", "d"),
    ("model", "model", "d"),
    ("p", "p", "d"),
    ("epochs", "epochs", "d"),
    ("median first learned, kept", "median_first_learned_kept", "d"),
    ("median first learned, changed", "median_first_learned_changed", "d"),
    ("changed after kept", "changed_learned_after_kept", "yes"),
    ("forgetting events, kept", "mean_forgetting_kept", "f"),
    ("forgetting events, changed", "mean_forgetting_changed", "f"),
    ("never forgotten, kept", "never_forgotten_kept", "%"),
    ("never forgotten, changed", "never_forgotten_changed", "%"),
    ("never learned", "never_learned", "%"),
)
HELD_OUT_TABLE = (
    ("run", "run", "d"),
    ("held out", "held_out", "d"),
    ("median first learned, kept", "held_out_median_first_learned_kept", "d"),
    ("median first learned, changed", "held_out_median_first_learned_changed", "d"),
    ("never learned, kept", "held_out_never_learned_kept", "%"),
    ("never learned, changed", "held_out_never_learned_changed", "%"),
)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The runs' table (trained examples), the held-out examples' where any run held some out, and Arpit et al.'s
    check counted over the runs with both kept and changed labels."""
    from rethink_tf import tables

    def table(spec, rows):
        cells = [[_fmt(row[key], kind) for _, key, kind in spec] for row in rows]
        return tables.markdown([name for name, _, _ in spec], cells, "ll" + "r" * (len(spec) - 2))

    if not rows:
        return "# Learning order\n\nNo run here has a ledger of more than one epoch.\n"
    text = [
        "# Learning order\n",
        "Per run, over its trained examples: the epoch by which half of the kept / changed labels had first been "
        "predicted (a never-learned example counts as later than every epoch; – where half never were), the mean "
        "forgetting events per example (correct at one epoch, wrong at the next; Toneva et al. 2019), the "
        "fractions learned and never forgotten, and never learned. Kept / changed: the examples whose label the "
        "corruption kept or changed; for a partial input corruption (gaussian or random_pixels at 0 < p < 1), those "
        "whose input it kept real or corrupted.\n",
        table(TABLE, rows),
    ]
    decided = [r for r in rows if r["changed_learned_after_kept"] is not None]
    if decided:
        after = sum(bool(r["changed_learned_after_kept"]) for r in decided)
        text.append(
            f"\nArpit et al. (2017): changed labels are learned after kept ones. Here the changed labels' median "
            f"first-learned epoch comes after the kept labels' in {after} of {len(decided)} runs with both.\n"
        )
    held = [r for r in rows if r["held_out"]]
    if held:
        text += ["\nHeld-out examples (never trained on; learned = predicted as their given label):\n"]
        text.append(table(HELD_OUT_TABLE, held))
    return "\n".join(text)


def report(results_dir: str) -> str:
    """learning_order.md, learning_order.csv (one row per run), learning_order.png (first-learned epochs, kept vs
    changed, per model and p) and learning_order_histogram.csv (the figure's series) in results_dir, from its
    records and ledgers alone; returns the Markdown."""
    from rethink_tf import plots, tables

    pairs = ledgers(results_dir)
    rows = [run_row(record, ledger) for record, ledger in pairs]
    figure_rows = series(pairs)
    os.makedirs(results_dir, exist_ok=True)
    plots.write_series(os.path.join(results_dir, f"{NAME}_histogram.csv"), figure_rows)
    draw(figure_rows, os.path.join(results_dir, f"{NAME}.png"))
    text = tables.write(results_dir, NAME, markdown(rows), rows=rows, fields=FIELDS, runs=[r for r, _ in pairs])
    return f"{text}\nfigure: {os.path.join(results_dir, NAME + '.png')}"
