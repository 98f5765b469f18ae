"""rethink_tf from Python: the functions `import rethink_tf` offers (a notebook, a script), each what a command
does on the command line.

    import rethink_tf
    rethink_tf.use_command_line_settings()  # first, before TensorFlow loads: the command line's numbers
    record = rethink_tf.run(preset="smoke", corruption="random_labels", results_dir="results/nb")
    rethink_tf.dataframe("results/nb")  # one row per run

- use_command_line_settings(): oneDNN on and TensorFlow's start-up lines hidden, as the command line has them.
- preset_config(preset, **fields): a RunConfig as `--preset=PRESET --field=value ...` makes it.
- run(config or preset and fields): trains one run (or resumes it, or returns its finished record), as
  `python -m rethink_tf.train` does; returns its record.
- load(results_dir): the run records under a results dir; dataframe(results_dir or records): them as a table;
  load_ledger(run_dir): a run's per-example ledger.
- build_report(name, results_dir): an experiment's report, as `python -m rethink_tf.report NAME DIR` prints it.
- forget_kept(): gives back the memory that runs keep for the next runs of the process (below).

Runs in one process share what does not change between them: a model of the same graph (its traced functions),
the data read from its files, the test split and its whitened copy. A run after another of the same model
costs less beyond its epochs, with the bits it has trained alone (docs/speed.md).

Importing this module loads no TensorFlow; the functions load what they need when called. (`rethink_tf.train`
and `rethink_tf.report` are the modules of the command line, hence run and build_report.)
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

from rethink_tf.config import ConfigError, RunConfig
from rethink_tf.settings import use_command_line_settings

if TYPE_CHECKING:  # pragma: no cover
    import pandas

    from rethink_tf.data.sources import RawData
    from rethink_tf.ledger import Ledger
    from rethink_tf.run_record import RunRecord

__all__ = [
    "RunConfig",
    "use_command_line_settings",
    "preset_config",
    "run",
    "load",
    "load_ledger",
    "dataframe",
    "build_report",
    "forget_kept",
]

# The numbers of a record's "final" that dataframe() gives columns of, when the record has them.
FINAL_COLUMNS = (
    "train_accuracy",
    "test_accuracy",
    "generalization_gap",
    "train_loss",
    "test_loss",
    "epochs_run",
    "fit_epoch",
)


def preset_config(preset: str = "laptop", **fields: Any) -> RunConfig:
    """The RunConfig of `--preset=PRESET --name=value ...`: each of `fields` (RunConfig's, e.g. model="mlp_1x512",
    corrupt=0.5, results_dir="results/nb") as given, every other field from the preset's flagfile
    (rethink_tf/presets/PRESET.flags), else the flag's default, checked as the command line checks it.
    ConfigError for an unknown preset, field or value."""
    from absl import flags

    from rethink_tf import cli

    names = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise ConfigError(f"no RunConfig field {', '.join(unknown)}; the fields are {', '.join(sorted(names))}")
    if preset not in cli.PRESETS:
        raise ConfigError(f"no preset {preset!r}; one of {', '.join(cli.PRESETS)}")
    values = flags.FlagValues()  # the command line's flags, not its parsed ones
    cli.define_flags(values)
    values.mark_as_parsed()
    for name, value in {"preset": preset, **fields}.items():  # as if given on the command line: the preset's yield
        flag = values[name]
        flag.value, flag.present, flag.using_default_value = value, 1, False
    cli.apply_preset(values, preset)
    return cli.from_flags(values)


def run(
    config: RunConfig | None = None,
    /,
    *,
    preset: str | None = None,
    raw: RawData | None = None,
    **fields: Any,
) -> RunRecord:
    """Trains one run and returns its record (a dict; rethink_tf.run_record.RunRecord), as
    `python -m rethink_tf.train` does: in results_dir/run_name, resumed where an earlier run of the same config
    stopped, returned as it is where it has finished. Either a `config` (`fields` replace its values) or a
    `preset` and `fields` as preset_config takes them (no config and no preset: the laptop preset's, as the
    command line). `raw`: the data in memory (rethink_tf.data.sources.RawData) instead of the config's data set.

        record = rethink_tf.run(preset="smoke", corruption="random_labels", results_dir="results/nb")
        record["final"]["train_accuracy"], record["epochs"][-1]

    TensorFlow's oneDNN setting is the process's: call use_command_line_settings() first for the command
    line's numbers. Bad input raises (ConfigError, RunDirError: rethink_tf.errors.BadInput)."""
    from rethink_tf import records, runs, train

    if config is None:
        config = preset_config(preset or "laptop", **fields)
    elif preset is not None:
        raise ConfigError("run() takes a config or a preset, not both")
    elif fields:
        config = dataclasses.replace(config, **fields)
    config = runs.resolve(config)
    records.check_results_dir(config.results_dir)
    return train.run(config, raw=raw)


def load(results_dir: str) -> list[RunRecord]:
    """The record of every run directly under results_dir, in name order: dicts as record.json holds them
    (rethink_tf.run_record.RunRecord: record.config is its RunConfig, record.final its final numbers). An empty
    list where there is none; RunDirError for a record this version cannot read."""
    from rethink_tf import records

    return records.load_all(results_dir)


def load_ledger(run_dir: str | os.PathLike) -> Ledger | None:
    """A run's per-example ledger (rethink_tf.ledger.Ledger: every training and curve-test example's correctness,
    loss and margin after each epoch), None for a run without one (--noledger, or before 0.6). For the learning
    order and forgetting of each example: rethink_tf.learning_order.examples(ledger)."""
    from rethink_tf import ledger

    return ledger.load(os.fspath(run_dir))


def dataframe(runs: str | os.PathLike | list[dict[str, Any]]) -> pandas.DataFrame:
    """A pandas DataFrame of runs, one row each, flat columns: run_name (its directory's), status, every other
    config field (model, corruption, corrupt, seed, epochs: the budget, ...), the final numbers (train_accuracy,
    test_accuracy, generalization_gap, train_loss, test_loss, epochs_run, fit_epoch; empty until the run
    finishes), epochs_done (the epochs its record has, finished or not), wall_time_s, onednn (whether
    TensorFlow's oneDNN kernels trained it) and version (rethink_tf's). `runs`: a results dir (see load) or
    records. The curves are each record's "epochs" (one dict of metrics per epoch)."""
    import pandas

    recs = load(os.fspath(runs)) if isinstance(runs, (str, os.PathLike)) else runs
    rows = []
    for record in recs:
        final = record.get("final") or {}
        environment = record.get("environment") or {}
        versions = record.get("versions") or {}
        rows.append(
            {
                **(record.get("config") or {}),
                "run_name": record.get("run_name"),
                "status": record.get("status"),
                **{name: final.get(name) for name in FINAL_COLUMNS},
                "epochs_done": len(record.get("epochs") or []),
                "wall_time_s": record.get("wall_time_s"),
                "onednn": environment.get("onednn", versions.get("onednn")),
                "version": versions.get("rethink_tf"),
            }
        )
    fields = [f.name for f in dataclasses.fields(RunConfig) if f.name != "run_name"]  # the record's: its dir's
    columns = ["run_name", "status", *fields, *FINAL_COLUMNS]
    columns += ["epochs_done", "wall_time_s", "onednn", "version"]
    return pandas.DataFrame(rows, columns=columns)


def build_report(name: str, results_dir: str) -> str:
    """Experiment `name`'s report (one of rethink_tf.experiments.NAMES: table1, figure1, ..., measures, tune)
    built from the records in results_dir alone, as `python -m rethink_tf.report NAME DIR` prints it; its
    tables, figures and CSVs are written into results_dir as there. UsageError for a bad name or directory."""
    from rethink_tf import report

    return report.report(name, results_dir)


def forget_kept() -> None:
    """Forgets what this process's runs keep for the next: compiled models (rethink_tf.warm), the data sets read
    (rethink_tf.data.base), the test splits and whitened copies (rethink_tf.data.pipeline); their memory goes back.
    The next run builds, reads and whitens afresh, to the same numbers."""
    from rethink_tf import warm
    from rethink_tf.data import base, pipeline, sources

    warm.clear()
    base.forget_read()
    sources.forget_loaded()
    pipeline.clear_kept()
