"""Runs an experiment's list of RunConfigs: each run without a finished record trains (or resumes), the
others are read back, and a run another live worker trains is left to it.

Every experiment (Table 1, Figures 1 and 2, Table 4) is such a list plus a report built from its records,
so an interrupted experiment continues where it stopped and several workers can share one.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from absl import app, logging

from rethink_tf import cli
from rethink_tf import config as config_lib
from rethink_tf import records, train
from rethink_tf.data import sources


def run(runs: list[tuple[str, config_lib.RunConfig]], raw: sources.RawData | None = None) -> list[dict[str, Any] | None]:
    """Trains the runs in order, each labelled by its prefix in the progress lines; returns every run's
    record (None for one another worker has only just claimed). Every run dir is checked before
    anything trains, so a foreign or corrupt one stops the experiment at once."""
    for _, cfg in runs:
        try:
            records.check(cfg)
        except records.RunBusyError:
            pass
    out, started = [], time.perf_counter()
    for prefix, cfg in runs:
        try:
            record = train.run(cfg, raw=raw, progress=prefix)  # returns a finished or diverged run's record untouched
        except records.RunBusyError as e:
            print(f"{prefix} left to its worker: {e}", flush=True)
            out.append(records.read_record(cfg.run_dir))
            continue
        print(f"{prefix} {train.summary(record)}; {time.perf_counter() - started:.0f} s so far", flush=True)
        out.append(record)
    return out


def entry_point(grid: Callable[..., list[tuple[str, config_lib.RunConfig]]], write: Callable[..., str]) -> None:
    """`python -m` of an experiment: the flags, `grid(base, learning_rate)`'s runs, then the report that
    `write(base, learning_rate)` returns, printed. The learning rate is None unless the command line or the
    preset sets one for every run."""
    def main(argv: list[str]) -> None:
        with cli.one_line_errors():
            base = cli.run_config(argv)
            run(grid(base, cli.FLAGS.learning_rate))
            print(write(base, cli.FLAGS.learning_rate))  # inside: a corrupt record is one line too

    config_lib.define_flags()
    logging.set_verbosity(logging.WARNING)
    app.run(main, flags_parser=cli.parse_flags)
