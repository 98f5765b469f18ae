"""`python -m rethink_tf.train`: one run -> one run directory (record, TensorBoard logs).

run(config) is the library entry point: data -> checks -> model and Keras fit (rethink_tf.fitting) -> record
(its blocks built by rethink_tf.records) -> measures (rethink_tf.run_measures).
A run directory that already holds this config's unfinished run on the same data is resumed from its last
epoch; a finished one is returned as it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
from typing import Any

from absl import app, logging

from rethink_tf import cli, environment, fitting, records, run_measures, runs
from rethink_tf import config as config_lib
from rethink_tf.data import sources


def run(
    config: config_lib.RunConfig, raw: sources.RawData | None = None, progress: str | None = None
) -> records.RunRecord:
    """Trains config's run (or resumes it) and returns its record; `raw` skips loading the data;
    `progress` replaces Keras' output by one line per epoch starting with that prefix. A learning rate of None
    is the model's default. A run dir that holds this config's run on other data is refused (RunDirError)."""
    config = runs.resolve(config)
    raw = raw or sources.load_for(config)
    config, existing = checked(config, raw)
    return run_checked(config, existing, raw, progress)


def run_checked(
    config: config_lib.RunConfig, existing: records.RunRecord | None, raw: sources.RawData, progress: str | None = None
) -> records.RunRecord:
    """run() for a config and existing record that checked() returned: an experiment checks every run before any
    trains, and trains them without checking twice (the run dir is read again under the run's claim, which two
    workers need)."""
    if existing is not None and existing.done and not run_measures.lacking(config, existing):
        logging.info("%s is already %s; nothing to do", config.run_dir, existing.status)
        return existing

    import tensorflow as tf  # deferred: flag errors above answer without loading TensorFlow

    from rethink_tf import strategy
    from rethink_tf.data import pipeline

    strategy.set_threads(config)  # before any op, like the strategy
    distribution = strategy.make_strategy(config)  # before any op: it may split the CPU into logical devices
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    fitting.set_random_seed(config.train_seed)
    data = pipeline.prepare(config, raw)
    records.claim(config)
    try:
        # Read again under the claim: another worker may have finished the run since the check above.
        existing = records.check(config)
        if existing is not None and existing.done:
            record = existing
        else:
            env = environment.read()
            check_environment(config, existing, env)
            with fitting.dtype_policy(config.precision):
                record = _train(config, data, existing, progress, distribution, env)
        if run_measures.lacking(config, record):  # after the run is saved as finished: an interrupt here loses no step
            run_measures.add(config, data, record, progress)
        return record
    finally:
        records.release(config)


def checked(
    config: config_lib.RunConfig, raw: sources.RawData
) -> tuple[config_lib.RunConfig, records.RunRecord | None]:
    """The config with what depends on the data filled in (for_data), and the existing record of its run dir, after
    checking that the run may be resumed or reused on raw: raw at the run's --image_size, subset sizes within the
    splits, the dir's config and version (records.check), the data's fingerprint. Raises DataError, RunDirError or
    RunBusyError; writes nothing."""
    side = raw.train.images.shape[1:3]
    if config.image_size and tuple(side) != (config.image_size, config.image_size):
        raise sources.DataError(
            f"the data handed to {config.run_dir} are {side[0]}x{side[1]} images, its --image_size is "
            f"{config.image_size}: load them with the run's own config (sources.load_for(config))"
        )
    config = for_data(config, raw)
    sources.check_sizes(raw, config.train_size, config.test_size)
    existing = records.check(config)
    if existing is not None:
        records.check_data(
            config.run_dir, (existing.get("data") or {}).get("fingerprints"), {"source": raw.fingerprint}
        )
    return config, existing


def resumes(config: config_lib.RunConfig, existing: records.RunRecord | None) -> bool:
    """Whether training would continue an earlier start of the run (epochs recorded or a backup to restore)."""
    backup = os.path.join(config.run_dir, records.BACKUP, "latest.weights.h5")
    return existing is not None and bool(existing.get("epochs") or os.path.exists(backup))


def check_environment(config: config_lib.RunConfig, existing: records.RunRecord | None, env: dict[str, Any]) -> None:
    """RunDirError if the run would resume in another compute environment than the one it started in (its
    numbers would be of neither), unless --allow_mixed_environment; writes nothing."""
    if not resumes(config, existing) or config.allow_mixed_environment:
        return
    differ = environment.differences(environment.of_record(existing)[-1], env)
    if differ:
        raise records.RunDirError(
            f"{config.run_dir} holds an unfinished run started in another compute environment ({'; '.join(differ)}); "
            "resume it there, move the directory away to train it afresh here, or pass "
            f"{environment.ALLOW_FLAG} to resume it here (its numbers then of neither environment)"
        )


def for_data(config: config_lib.RunConfig, raw: sources.RawData) -> config_lib.RunConfig:
    """The config with what depends on the data filled in: the crop side (--crop_size 0: the data's own), checked
    against the smallest input its model builds for."""
    crop = sources.crop_size(config.crop_size, raw.train.images.shape[1:])
    from rethink_tf import models

    least = models.MODELS[config.model].min_input
    if crop < least:
        raise config_lib.ConfigError(
            f"--crop_size={crop} is not allowed: {config.model} needs inputs of at least {least}x{least}; pass "
            f"--crop_size={least} or more, with --image_size={least} or more for smaller images"
        )
    return dataclasses.replace(config, crop_size=crop)


def _train(
    config: config_lib.RunConfig,
    data,
    existing: records.RunRecord | None,
    progress: str | None,
    distribution,
    env: dict[str, Any],
) -> records.RunRecord:
    """Builds the model, starts or continues the record, fits (rethink_tf.fitting) and records how the run ended:
    finished, diverged, interrupted (Ctrl-C, SIGTERM) or failed."""
    from rethink_tf import summaries

    started = time.perf_counter()
    wall_before = existing["wall_time_s"] if existing else 0.0

    def wall_time() -> float:
        return wall_before + time.perf_counter() - started

    from rethink_tf.data import pipeline

    model = fitting.built_model(config, data, distribution)
    curve = pipeline.curve_split(data.test, config)  # the fixed test subset of the curves
    record = existing or records.new_record(config)
    record.update(
        status=records.RUNNING,
        error=None,
        pid=os.getpid(),
        host=socket.gethostname(),
        data=records.data_block(config, data, curve),
        epoch_budget=records.epoch_budget_block(config),
        replicas=distribution.num_replicas_in_sync,
        model=records.model_block(config, model, data.input_shape, data.num_classes),
    )
    if existing is not None:
        record.setdefault("resumed", []).append(records.now())
    if not resumes(config, existing):
        record["environment"] = env
    elif environment.differences(environment.of_record(record)[-1], env):  # allowed: --allow_mixed_environment
        record.setdefault("resumed_in", []).append({"epoch": len(record["epochs"]), "environment": env})

    def save() -> None:
        records.save(config, record)

    save()
    if config.epoch_budget_note:  # an override of --epochs is never silent
        print(f"{progress or record.run_name}: {config.epoch_budget_note}", flush=True)
    writer = None
    try:  # from the first save on: a signal anywhere after it leaves the record saying so
        writer = summaries.Writer(config, record)
        final = fitting.fit(config, model, data, curve, record, save, wall_time, writer, progress)
        record.update(status=records.FINISHED if final else records.DIVERGED, final=final)
    except KeyboardInterrupt:
        # Stopped in the final evaluation, after fit deleted its backup: the next start trains the run again
        # from epoch 1, to the same numbers.
        record.update(status=records.INTERRUPTED, wall_time_s=wall_time())
        save()
        with contextlib.suppress(Exception):  # the events are secondary: the interrupt is what the caller gets
            if writer is not None:
                writer.end(record)
        raise
    except Exception as e:
        record.update(status=records.FAILED, error=f"{type(e).__name__}: {e}", wall_time_s=wall_time())
        save()
        with contextlib.suppress(Exception):  # the error that failed the run is what the caller gets
            if writer is not None:
                writer.end(record)
        raise
    record["wall_time_s"] = wall_time()
    save()
    writer.end(record)
    if config.ledger and record.finished:  # the ledger's TensorBoard tab: its images are in memory only now
        _ledger_tab(config, data, record)
    return record


def _ledger_tab(config: config_lib.RunConfig, data, record: records.RunRecord) -> None:
    from rethink_tf import ledger, ledger_summaries

    every_train, _ = data.every_train()
    ledger_summaries.write(config, ledger.load(config.run_dir), every_train.images, record["data"]["class_names"])


def summary(record: records.RunRecord) -> str:
    """One line: the run, its status and its final numbers."""
    final = record.get("final") or {}
    budget = (record.get("epoch_budget") or {}).get("max_epochs")
    numbers = (
        f" train {final['train_accuracy']:.2%} test {final['test_accuracy']:.2%} "
        f"after {final['epochs_run']}{f' of at most {budget}' if budget else ''} epochs"
        if final
        else ""
    )
    return f"{record['run_name']}: {record['status']}{numbers} ({record['wall_time_s']:.0f} s)"


def main(argv: list[str]) -> None:
    with cli.one_line_errors():
        config = runs.resolve(cli.run_config(argv))
        record = run(config, progress=f"[{os.path.basename(config.run_dir)}]" if config.verbose == 2 else None)
    print(summary(record))
    print(f"run directory: {config.run_dir}  (tensorboard --logdir {config.results_dir})")


if __name__ == "__main__":
    cli.define_flags()
    app.run(main, flags_parser=cli.flags_parser(__doc__, cli.RUN_GROUPS))
