"""The one table writer of every report: a Markdown table for people and a CSV of the same rows for programs,
both written atomically beside each other."""

from __future__ import annotations

import csv
import io
import math
import os
from typing import Any, Sequence

from rethink_tf import atomic


def fmt(value, digits: int = 2) -> str:
    """A number with `digits` decimals, or a dash for a missing one (None or NaN)."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def markdown(header: Sequence[str], cells: Sequence[Sequence[Any]], align: str) -> str:
    """A Markdown table: `align` has one letter per column, "l" or "r"."""
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(header)} columns")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def csv_text(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write(
    results_dir: str,
    name: str,
    text: str,
    rows: Sequence[dict[str, Any]] | None = None,
    fields: Sequence[str] | None = None,
    runs: Sequence[dict[str, Any]] = (),
) -> str:
    """<name>.md (`text`, the report's Markdown) and, given rows, <name>.csv (their `fields`, every key of the
    first row by default) in results_dir; returns the Markdown. Given the `runs` (records) it reports, a line under
    the table says when they come from more than one compute environment."""
    from rethink_tf import environment

    text += environment.note(list(runs))
    os.makedirs(results_dir, exist_ok=True)
    if rows is not None:
        atomic.write_text(
            os.path.join(results_dir, f"{name}.csv"), csv_text(rows, fields or list(rows[0] if rows else []))
        )
    atomic.write_text(os.path.join(results_dir, f"{name}.md"), text)
    return text
