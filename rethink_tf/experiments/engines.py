"""Where an experiment's runs train, behind one interface: this process, N local worker processes, or a Ray
cluster's tasks. Every engine trains through the runs' claims and records (rethink_tf.records), so a run's bits
are the same whoever trains it, and a run another engine or worker holds is left to it.

`for_flags(scale)` picks the engine of the command line's --workers / --engine / --ray_address (ENGINES).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
import time
from typing import Callable, Protocol

from rethink_tf import cli, records, train
from rethink_tf.config import RunConfig
from rethink_tf.data import sources
from rethink_tf.experiments import workers

Runs = list[tuple[str, RunConfig]]  # (progress prefix, resolved config) per run
Checked = list[tuple[str, RunConfig, "records.RunRecord | None"]]  # the same, checked: config for its data, record


class Engine(Protocol):
    def train(self, runs: Checked, raw: sources.RawData) -> None:
        """Trains the checked runs that have no result yet; returns when every one has ended."""


def check_all(runs: Runs, raw: sources.RawData) -> Checked:
    """Every run dir checked once, before anything trains (train.checked): a foreign or corrupt one, or one that
    holds a run on other data, raises at once; one a live worker holds is left to it (its record read when it ends)."""
    out = []
    for prefix, cfg in runs:
        try:
            out.append((prefix, *train.checked(cfg, raw)))
        except records.RunBusyError:
            out.append((prefix, train.for_data(cfg, raw), None))
    return out


@dataclasses.dataclass(frozen=True)
class InProcess:
    """The runs one after the other in this process. say_busy False: no line for a run left to another worker
    (the workers of one --workers=N grid, which leave each other's runs all the time)."""

    say_busy: bool = True

    def train(self, runs: Checked, raw: sources.RawData) -> list[records.RunRecord | None]:
        """Every run's record (None for one another worker has only just claimed)."""
        out, started = [], time.perf_counter()
        for prefix, cfg, existing in runs:
            if existing is None or not existing.done:  # read again: a worker may have finished it since the check
                existing = records.read_record(cfg.run_dir)
            try:
                record = train.run_checked(cfg, existing, raw, progress=prefix)  # a finished run's record, untouched
            except records.RunBusyError as e:
                if self.say_busy:
                    print(f"{prefix} left to its worker: {e}", flush=True)
                out.append(records.read_record(cfg.run_dir))
                continue
            print(f"{prefix} {train.summary(record)}; {time.perf_counter() - started:.0f} s so far", flush=True)
            out.append(record)
        return out


@dataclasses.dataclass(frozen=True)
class Workers:
    """--workers=N: N processes of this same command (rethink_tf.experiments.workers) share the runs; a worker
    stopped by a signal or bad input stops the grid with its status, one that died otherwise (SIGKILL, out of
    memory) leaves its run to whoever trains next."""

    count: int

    def train(self, runs: Checked, raw: sources.RawData) -> None:
        left = sum(1 for _, _, existing in runs if existing is None or not existing.done)
        if not left:  # no process started (a TensorFlow start-up each) for a grid that is done or has no runs
            if runs:
                print(f"{len(runs)} of {len(runs)} runs already finished; no worker process started", flush=True)
            return
        print(f"{len(runs)} runs shared by {self.count} worker processes", flush=True)
        codes = workers.start_and_wait(sys.argv[1:], self.count, cli.prog())
        for k, code in enumerate(codes):
            if code in (2, 130):
                cli.error(
                    f"worker {k + 1} of {self.count} stopped with status {code} (its line above); fix what it says, "
                    "or run the same command again to continue",
                    status=code,
                )


@dataclasses.dataclass(frozen=True)
class Ray:
    """--engine=ray: every unfinished run a Ray task (rethink_tf.experiments.ray_engine); Ray is an optional extra."""

    address: str | None = None

    def train(self, runs: Checked, raw: sources.RawData) -> None:
        if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its settings when it is
            raise cli.UsageError("--engine=ray needs Ray on this machine: pip install 'rethink_tf[ray]'")
        from rethink_tf.experiments import ray_engine

        ray_engine.train_all([(prefix, cfg) for prefix, cfg, _ in runs], self.address)


# --engine's values -> the engine of the command line's scale-out flags (cli.ScaleOut).
ENGINES: dict[str, Callable[[cli.ScaleOut], Engine]] = {
    "local": lambda scale: Workers(scale.workers) if scale.workers > 1 else InProcess(),
    "ray": lambda scale: Ray(scale.ray_address),
}


def for_flags(scale: cli.ScaleOut) -> Engine:
    """The engine the flags ask for; a --workers process (one of N) trains its share in itself."""
    return InProcess(say_busy=False) if workers.is_worker() else ENGINES[scale.engine](scale)
