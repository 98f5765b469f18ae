"""Every experiment's one shape, and the runner that gives each its entry point.

An experiment is a module of rethink_tf/experiments holding EXPERIMENT = Experiment(...): the training runs it
needs (derived from a base config), for results that are not training runs a compute step (Table 3's kernels,
Theorem 1's construction), and its report, built from the records of a results directory alone.
`python -m rethink_tf.experiments.NAME` runs whatever has no result yet (an interrupted experiment continues
where it stopped; several workers can share one results directory), then prints the report;
`python -m rethink_tf.report NAME DIR` rebuilds the report alone. --workers=N shares the runs among N local
processes (rethink_tf.experiments.workers), --engine=ray among a Ray cluster's (rethink_tf.experiments.ray_engine).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import time
from typing import Any, Callable

from absl import app, logging

from rethink_tf import cli, records, train
from rethink_tf.config import RunConfig
from rethink_tf.data import sources
from rethink_tf.experiments import workers

Runs = list[tuple[str, RunConfig]]


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


def train_all(runs: Runs, raw: sources.RawData | None = None, say_busy: bool = True) -> list[dict[str, Any] | None]:
    """Trains the runs in order and returns every run's record (None for one another worker has only just
    claimed). Every run dir is checked before anything trains, so a foreign or corrupt one, or one that holds a
    run on other data, stops the experiment at once. `say_busy` False: no line for a run left to another worker
    (the workers of one --workers=N grid, which leave each other's runs all the time)."""
    if not runs:
        return []
    raw = raw or sources.load_for(runs[0][1])
    check_all(runs, raw)
    out, started = [], time.perf_counter()
    for prefix, cfg in runs:
        try:
            record = train.run(cfg, raw=raw, progress=prefix)  # returns a finished or diverged run's record untouched
        except records.RunBusyError as e:
            if say_busy:
                print(f"{prefix} left to its worker: {e}", flush=True)
            out.append(records.read_record(cfg.run_dir))
            continue
        print(f"{prefix} {train.summary(record)}; {time.perf_counter() - started:.0f} s so far", flush=True)
        out.append(record)
    return out


def check_all(runs: Runs, raw: sources.RawData) -> None:
    """Every run dir checked before anything trains (train.checked): a foreign or corrupt one, or one that holds a
    run on other data, raises at once; one a live worker holds is left to it."""
    for _, cfg in runs:
        try:
            train.checked(cfg, raw)
        except records.RunBusyError:
            pass  # left to its worker when its turn comes


def run(experiment: Experiment, base: RunConfig, raw: sources.RawData | None = None, **options) -> str:
    """Everything the experiment has no result of yet, on base's data (`raw` skips loading it); returns the
    report."""
    runs = experiment.runs(base, **options)
    if runs or experiment.compute:
        raw = raw or sources.load_for(base)
    train_all(runs, raw)
    if experiment.compute:
        experiment.compute(base, raw, **options)
    return experiment.report(base.results_dir)


def main(experiment: Experiment, doc: str) -> None:
    """`python -m rethink_tf.experiments.NAME`: the flags and preset, the experiment's runs, its report printed."""

    def entry(argv: list[str]) -> None:
        with cli.one_line_errors():
            base = cli.run_config(argv)
            options = dataclasses.asdict(cli.options(experiment.options)) if experiment.options else {}
            scale = cli.options(cli.ScaleOut)
            if workers.is_worker():  # one of --workers=N: its share of the runs; the parent reports
                train_all(experiment.runs(base, **options), say_busy=False)
                return
            runs = experiment.runs(base, **options)
            raw = sources.load_for(base) if runs or experiment.compute else None
            if runs and (scale.workers > 1 or scale.engine == "ray"):
                check_all(runs, raw)  # bad run dirs stop the grid here, once, before any worker starts
                if scale.engine == "ray":
                    _on_ray(runs, scale.ray_address)
                else:
                    _share(scale.workers, len(runs))
            text = run(experiment, base, raw, **options)  # what no worker finished, then the report
        print(text)

    cli.define_flags()
    if experiment.options:
        cli.define_options(experiment.options)
    logging.set_verbosity(logging.WARNING)
    groups = cli.RUN_GROUPS + cli.option_groups(experiment.options) + (cli.SCALE_OUT_GROUP,)
    app.run(entry, flags_parser=cli.flags_parser(doc, groups))


def _share(count: int, total: int) -> None:
    """--workers=N: N worker processes train the runs; a worker stopped by a signal or bad input stops the grid
    with its status, one that died otherwise (SIGKILL, out of memory) leaves its run to this process."""
    print(f"{total} runs shared by {count} worker processes", flush=True)
    codes = workers.run(sys.argv[1:], count, cli.prog())
    for k, code in enumerate(codes):
        if code in (2, 130):
            cli.error(
                f"worker {k + 1} of {count} stopped with status {code} (its line above); fix what it says, or "
                "run the same command again to continue",
                status=code,
            )


def _on_ray(runs: Runs, address: str | None) -> None:
    """--engine=ray: the runs as Ray tasks (rethink_tf.experiments.ray_engine); Ray is an optional extra."""
    if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its settings when it is
        raise cli.UsageError("--engine=ray needs Ray on this machine: pip install 'rethink_tf[ray]'")
    from rethink_tf.experiments import ray_engine

    ray_engine.train_all(runs, address)
