"""Every experiment's one shape, and the runner that gives each its entry point.

An experiment is a module of rethink_tf/experiments holding EXPERIMENT = Experiment(...): the training runs it
needs (derived from a base config), for results that are not training runs a compute step (Table 3's kernels,
Theorem 1's construction), and its report, built from the records of a results directory alone.
`python -m rethink_tf.experiments.NAME` runs whatever has no result yet (an interrupted experiment continues
where it stopped; several workers can share one results directory), then prints the report;
`python -m rethink_tf.report NAME DIR` rebuilds the report alone. The runs train in this process, or are shared
among --workers=N local processes or a Ray cluster's tasks (--engine=ray): rethink_tf.experiments.engines.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from absl import app, logging

from rethink_tf import cli, records
from rethink_tf.config import RunConfig
from rethink_tf.data import sources
from rethink_tf.experiments import engines, workers

Runs = engines.Runs


@dataclasses.dataclass(frozen=True)
class Experiment:
    """One experiment of the paper: `runs(base, **options)` lists its training runs, each labelled for the
    progress lines; `compute(base, raw, **options)` makes and stores its other results; `report(results_dir)`
    writes and returns its report from the records there alone. `options` is its options dataclass, whose fields
    (config.setting) are its own flags (rethink_tf.cli.define_options) and the keyword arguments of runs and compute;
    `subdir` is where `make reproduce-NAME` keeps its runs under the preset's results dir, when they must not mix
    with Table 1's (the report looks there too)."""

    name: str
    report: Callable[[str], str]
    runs: Callable[..., Runs] = lambda base, **options: []
    compute: Callable[..., Any] | None = None
    options: type | None = None
    subdir: str = ""


def train_all(runs: Runs, raw: sources.RawData | None = None) -> list[records.RunRecord | None]:
    """Trains the runs in this process, in order, every run dir checked before anything trains; returns every
    run's record (None for one another worker has only just claimed)."""
    if not runs:
        return []
    raw = raw or sources.load_for(runs[0][1])
    return engines.InProcess().train(engines.check_all(runs, raw), raw)


def run_experiment(
    experiment: Experiment,
    base: RunConfig,
    raw: sources.RawData | None = None,
    engine: engines.Engine | None = None,
    **options,
) -> str:
    """Everything the experiment has no result of yet, on its runs' data (the first run's data options; `raw` skips
    loading it), by `engine` (this process by default); returns the report. Its runs are listed and checked once,
    before anything trains."""
    runs = experiment.runs(base, **options)
    if runs or experiment.compute:  # on the runs' data options where they set their own (double_descent's size)
        raw = raw or sources.load_for(runs[0][1] if runs else base)
    checked = engines.check_all(runs, raw) if runs else []
    engine = engine or engines.InProcess()
    engine.train(checked, raw)
    if workers.is_worker():  # one of --workers=N: its share of the runs; the parent reports
        return ""
    if not isinstance(engine, engines.InProcess):
        engines.InProcess().train(checked, raw)  # what no worker or task finished (one that died), then the report
    if experiment.compute:
        experiment.compute(base, raw, **options)
    return experiment.report(base.results_dir)


def main(experiment: Experiment, doc: str) -> None:
    """`python -m rethink_tf.experiments.NAME`: the flags and preset, the experiment's runs, its report printed."""

    def entry(argv: list[str]) -> None:
        with cli.one_line_errors():
            base = cli.run_config(argv)
            options = dataclasses.asdict(cli.options(experiment.options)) if experiment.options else {}
            engine = engines.for_flags(cli.options(cli.ScaleOut))
            text = run_experiment(experiment, base, engine=engine, **options)
        if text:
            print(text)

    cli.define_flags()
    if experiment.options:
        cli.define_options(experiment.options)
    logging.set_verbosity(logging.WARNING)
    groups = cli.RUN_GROUPS + cli.option_groups(experiment.options) + (cli.SCALE_OUT_GROUP,)
    app.run(entry, flags_parser=cli.flags_parser(doc, groups))
