"""What the figures share: the curves a run record holds, in steps, and PNG + CSV output.

matplotlib draws with its Agg backend (no display needed); every figure is saved as a PNG with a CSV of
the series behind it (columns panel, series, x, y), both written atomically.
"""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from rethink_tf import atomic, tables  # noqa: E402

SERIES_FIELDS = ("panel", "series", "x", "y")


def curve(record: dict[str, Any], key: str) -> list[tuple[int, float]]:
    """(step at the epoch's end, value) for every epoch whose metrics hold `key` (test metrics are only in
    the epochs that tested)."""
    per_epoch = record.steps_per_epoch
    return [(row["epoch"] * per_epoch, float(row[key])) for row in record["epochs"] if key in row]


def group(rows: Iterable[tuple[str, str, float, float]]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """The rows as {(panel, series): [(x, y), ...]}, in row order."""
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for panel, series, x, y in rows:
        out.setdefault((panel, series), []).append((x, y))
    return out


def write_series(path: str, rows: Iterable[tuple[str, str, float, float]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(SERIES_FIELDS)
    writer.writerows((panel, series, x, "nan" if y is None or math.isnan(y) else y) for panel, series, x, y in rows)
    atomic.write_text(path, out.getvalue())


def read_series(path: str) -> list[dict[str, Any]]:
    """The rows of a figure's CSV, x and y as floats."""
    with open(path, newline="") as f:
        return [{**row, "x": float(row["x"]), "y": float(row["y"])} for row in csv.DictReader(f)]


def write_figure(
    results_dir: str, name: str, rows: list[tuple[str, str, float, float]], draw, markdown: str, runs=()
) -> str:
    """<name>.csv (the rows), <name>.png (`draw(rows, path)`) and <name>.md (`markdown`, and the environment line
    of tables.write for the `runs` drawn) in results_dir; returns the Markdown."""
    os.makedirs(results_dir, exist_ok=True)
    write_series(os.path.join(results_dir, f"{name}.csv"), rows)
    draw(rows, os.path.join(results_dir, f"{name}.png"))
    return tables.write(results_dir, name, markdown, runs=runs)


def new_figure(panels: int, width: float = 5.0, height: float = 4.0, columns: int | None = None):
    """A figure of `panels` axes in rows of `columns` (all in one row by default); the grid's spare cells blank."""
    columns = columns or panels
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    axes = list(axes.flat)
    for ax in axes[panels:]:
        ax.axis("off")
    return fig, axes[:panels]


def save(fig, path: str) -> None:
    """Writes the figure as a PNG (via a temporary name, so a reader never sees half a file) and closes it."""
    fig.tight_layout()
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, dpi=110), suffix=".png")
    plt.close(fig)


def write_table_figure(results_dir: str, name: str, text: str, table, fields, draw, runs=()) -> str:
    """An experiment's report from its table (one dict per row): <name>.png (`draw(table, path)`), <name>.csv (the
    `fields` of each row) and <name>.md (`text`, with tables.write's environment line); returns the Markdown and
    where the figure is."""
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, f"{name}.png")
    draw(table, path)
    return f"{tables.write(results_dir, name, text, table, fields, runs=runs)}\nfigure: {path}"
