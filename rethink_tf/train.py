"""`python -m rethink_tf.train`: one run -> one run directory (record, TensorBoard logs).

run(config) is the library entry point: data -> model -> Keras fit with standard callbacks -> record.
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

from rethink_tf import atomic, cli, environment, records, runs
from rethink_tf import config as config_lib
from rethink_tf.data import sources


def run(
    config: config_lib.RunConfig, raw: sources.RawData | None = None, progress: str | None = None
) -> dict[str, Any]:
    """Trains config's run (or resumes it) and returns its record; `raw` skips loading the data;
    `progress` replaces Keras' output by one line per epoch starting with that prefix. A learning rate of None
    is the model's default. A run dir that holds this config's run on other data is refused (RunDirError)."""
    config = runs.resolve(config)
    raw = raw or sources.load_for(config)
    config = for_data(config, raw)
    existing = check(config, raw)
    if existing is not None and existing["status"] in records.DONE and not lacks_measures(config, existing):
        logging.info("%s is already %s; nothing to do", config.run_dir, existing["status"])
        return existing

    import keras
    import tensorflow as tf  # deferred: flag errors above answer without loading TensorFlow

    from rethink_tf import strategy
    from rethink_tf.data import pipeline

    strategy.set_threads(config)  # before any op, like the strategy
    distribution = strategy.make_strategy(config)  # before any op: it may split the CPU into logical devices
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    data = pipeline.prepare(config, raw)
    records.claim(config)
    try:
        # Read again under the claim: another worker may have finished the run since the check above.
        existing = records.check(config)
        if existing is not None and existing["status"] in records.DONE:
            record = existing
        else:
            env = environment.read()
            check_environment(config, existing, env)
            with _dtype_policy(config.precision):
                record = _fit(config, data, existing, progress, distribution, env)
        if lacks_measures(config, record):  # after the run is saved as finished: an interrupt here loses no step
            add_measures(config, data, record, progress)
        return record
    finally:
        records.release(config)


def resumes(config: config_lib.RunConfig, existing: dict[str, Any] | None) -> bool:
    """Whether training would continue an earlier start of the run (epochs recorded or a backup to restore)."""
    backup = os.path.join(config.run_dir, records.BACKUP, "latest.weights.h5")
    return existing is not None and bool(existing.get("epochs") or os.path.exists(backup))


def check_environment(config: config_lib.RunConfig, existing: dict[str, Any] | None, env: dict[str, Any]) -> None:
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


def lacks_measures(config: config_lib.RunConfig, record: dict[str, Any]) -> bool:
    """Whether a finished run still needs its generalization measures (they are computed without retraining)."""
    return config.measures and record["status"] == records.FINISHED and not record.get("measures")


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


def check(config: config_lib.RunConfig, raw: sources.RawData) -> dict[str, Any] | None:
    """The existing record of config's run dir, after checking that the run may be resumed or reused on raw:
    subset sizes within the splits, the dir's config and version (records.check), the data's fingerprint. Raises
    DataError, RunDirError or RunBusyError; writes nothing."""
    config = for_data(config, raw)
    sources.check_sizes(raw, config.train_size, config.test_size)
    existing = records.check(config)
    if existing is not None:
        records.check_data(
            config.run_dir, (existing.get("data") or {}).get("fingerprints"), {"source": raw.fingerprint}
        )
    return existing


@contextlib.contextmanager
def _dtype_policy(name: str):
    """Keras' global dtype policy set to `name` while the run builds and trains its model, then put back."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _fit(
    config: config_lib.RunConfig,
    data,
    existing: dict[str, Any] | None,
    progress: str | None,
    distribution,
    env: dict[str, Any],
) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    from rethink_tf import callbacks, models, summaries
    from rethink_tf.data import pipeline

    started = time.perf_counter()
    wall_before = existing["wall_time_s"] if existing else 0.0

    def wall_time() -> float:
        return wall_before + time.perf_counter() - started

    with distribution.scope():
        model = build(config, data.input_shape, data.num_classes, replicas=distribution.num_replicas_in_sync)
        compile_model(model, config, replicas=distribution.num_replicas_in_sync, num_classes=data.num_classes)
    initial = os.path.join(config.run_dir, records.INITIAL_WEIGHTS)
    if not os.path.exists(initial):  # before any step; a resumed run builds the same bits before its restore
        atomic.write_with(initial, model.save_weights, suffix=".weights.h5")

    curve = pipeline.curve_split(data.test, config)
    record = existing or records.new_record(config)
    record.update(
        status=records.RUNNING,
        error=None,
        pid=os.getpid(),
        host=socket.gethostname(),
        data={
            "source": config.dataset,
            "origin": data.origin,
            "train_examples": len(data.train.labels),
            "test_examples": len(data.test.labels),
            "curve_test_examples": len(curve.labels),
            "num_classes": data.num_classes,
            "class_names": list(data.class_names) if data.class_names else None,
            "image_shape": list(data.image_shape),
            "input_shape": list(data.input_shape),
            "train_labels_changed": data.labels_changed,
            "fingerprints": data.fingerprints,
        },
        epoch_budget={
            "max_epochs": config.max_epochs,
            "flag": config.epoch_budget[1],
            "note": config.epoch_budget_note,
        },
        replicas=distribution.num_replicas_in_sync,
        model={
            "paper_name": models.MODELS[config.model].paper_name,
            "param_count": models.paper_param_count(model),
            "paper_param_count": models.published_param_count(config.model, data.input_shape, data.num_classes),
            "keras_count_params": model.count_params(),
        },
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
        print(f"{progress or record['run_name']}: {config.epoch_budget_note}", flush=True)
    writer = summaries.Writer(config, record)
    label_split = 0.0 < config.label_noise < 1.0  # training accuracy on changed and kept labels, every epoch
    train_eval_ds = pipeline.eval_dataset(data.train, config) if label_split else None

    with tf.device("/CPU:0"):
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    fit_callbacks = [
        callbacks.EpochVariable(epoch),
        callbacks.exponential_decay(
            config.learning_rate,
            config.lr_decay,
            config.lr_decay_examples / len(data.train.labels) if config.lr_decay_examples else 1.0,
        ),
        keras.callbacks.TerminateOnNaN(),
        *([callbacks.LabelSplit(train_eval_ds, data.train.labels, data.train.true_labels)] if label_split else []),
        callbacks.GeneralizationGap(),
        *([callbacks.StopWhenFit()] if config.stop_when_fit else []),
        # The record is saved before the backup, so on resume it is never behind the checkpoint.
        callbacks.RunRecordWriter(record, save, wall_time),
        callbacks.EpochSummaries(writer, record),
        callbacks.AtomicBackupAndRestore(os.path.join(config.run_dir, records.BACKUP)),
        *([callbacks.Progress(progress, config.max_epochs)] if progress else []),
    ]
    test_ds = pipeline.eval_dataset(data.test, config)
    curve_ds = test_ds if curve is data.test else pipeline.eval_dataset(curve, config)
    try:
        model.fit(
            pipeline.train_dataset(data.train, config, epoch),
            epochs=config.max_epochs,
            shuffle=False,
            validation_data=curve_ds,
            validation_freq=config.eval_every,
            callbacks=fit_callbacks,
            verbose=0 if progress else config.verbose,
        )
        _finish(config, model, data, train_eval_ds, test_ds, record, label_split)
    except KeyboardInterrupt:
        # Stopped in the final evaluation, after fit deleted its backup: the next start trains the run again
        # from epoch 1, to the same numbers.
        record.update(status=records.INTERRUPTED, wall_time_s=wall_time())
        save()
        with contextlib.suppress(Exception):  # the events are secondary: the interrupt is what the caller gets
            writer.end(record)
        raise
    except Exception as e:
        record.update(status=records.FAILED, error=f"{type(e).__name__}: {e}", wall_time_s=wall_time())
        save()
        with contextlib.suppress(Exception):  # the error that failed the run is what the caller gets
            writer.end(record)
        raise
    record["wall_time_s"] = wall_time()
    save()
    writer.end(record)
    return record


def build(config: config_lib.RunConfig, input_shape, num_classes: int, replicas: int = 1):
    """The run's model before its first step: its weights depend only on the config (seeded initializers) and
    the shapes, so a run's initial weights can be rebuilt from its record."""
    from rethink_tf import models

    return models.build_model(
        config.model,
        input_shape=input_shape,
        num_classes=num_classes,
        batch_norm=config.batch_norm,
        bn_momentum=config.bn_momentum,
        sync_batch_norm=replicas > 1,
        weight_decay=config.weight_decay,
        dropout=config.dropout,
        seed=config.seed,
    )


def initial_weights(run_dir: str) -> str:
    """The path of a run's initial weights, rebuilt from its record's config and shapes when the run predates
    them (runs trained before initial weights were kept have only their final ones)."""
    path = os.path.join(run_dir, records.INITIAL_WEIGHTS)
    if not os.path.exists(path):
        record = records.read_record(run_dir)
        if record is None or not record.get("data"):
            raise records.RunDirError(f"{run_dir} holds no run record with its data's shapes; train the run first")
        config = config_lib.from_record(record["config"])
        model = build(config, record["data"]["input_shape"], record["data"]["num_classes"])
        compile_model(model, config, num_classes=record["data"]["num_classes"])  # the optimizer's slots, as saved
        atomic.write_with(path, model.save_weights, suffix=".weights.h5")
    return path


def add_measures(config: config_lib.RunConfig, data, record: dict[str, Any], progress: str | None = None) -> None:
    """A finished run's generalization measures (rethink_tf.measures.of_net) into its record and its TensorBoard
    events, from its final and initial weights on its training data as trained (center-cropped, whitened, the
    labels it was trained on): nothing is retrained. The caller holds the run's claim."""
    from rethink_tf import measures, summaries
    from rethink_tf.data import pipeline
    from rethink_tf.version import __version__

    started = time.perf_counter()
    nets = []
    for path in (os.path.join(config.run_dir, records.WEIGHTS), initial_weights(config.run_dir)):
        model = build(config, data.input_shape, data.num_classes)
        model.load_weights(path)  # the layers' weights: an uncompiled model has no optimizer to load
        nets.append(model)
    images = pipeline.whitened_once(data.train.images, config)
    values, sigmas = measures.of_net(*nets, images, data.train.labels, seed=config.seed)
    record["measures"] = {
        "values": values,
        "sharpness_sigma": sigmas,
        "settings": {"train_examples": len(images), "margin_percentile": 10, **measures.SHARPNESS},
        "wall_time_s": time.perf_counter() - started,
        "version": __version__,
    }
    records.save(config, record)
    summaries.rewrite(config, record)
    if progress:
        seconds = record["measures"]["wall_time_s"]
        print(f"{progress} measures of the trained net recorded ({seconds:.0f} s)", flush=True)


def compile_model(model, config: config_lib.RunConfig, replicas: int = 1, num_classes: int = 10) -> None:
    """SGD with momentum on the cross-entropy of logits, the paper's setup (its update one fused op:
    rethink_tf/optimizers.py). XLA only on a GPU, and there as Keras decides: Keras turns XLA off under op
    determinism, on unless --nodeterministic (docs/speed.md). Several steps per call only on one replica:
    under a MirroredStrategy of several, Keras 3.15's multi-step loop fails ("You must feed a value for
    placeholder tensor"), and one step per call gives the same numbers. With more than 10 classes top-5 accuracy
    is measured too (the paper's Table 2 reports it for ImageNet)."""
    import keras
    import tensorflow as tf

    from rethink_tf import optimizers

    model.compile(
        jit_compile="auto" if tf.config.list_physical_devices("GPU") else False,
        optimizer=optimizers.MomentumSGD(learning_rate=config.learning_rate, momentum=config.momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"]
        + ([keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy")] if num_classes > 10 else []),
        steps_per_execution=config.steps_per_execution if replicas == 1 else 1,
    )


def _finish(
    config: config_lib.RunConfig, model, data, train_ds, test_ds, record: dict[str, Any], label_split: bool
) -> None:
    """The run's end: its final numbers (or "diverged") into the record, its weights into the run dir. train_ds
    is the training set's evaluation pipeline, or None to build it here."""
    from rethink_tf import callbacks
    from rethink_tf.data import pipeline

    epochs = record["epochs"]
    if epochs and callbacks.is_nan(epochs[-1].get("loss")):
        record.update(status=records.DIVERGED, final=None)
    else:
        if train_ds is None:
            train_ds = pipeline.eval_dataset(data.train, config)
        train_eval = model.evaluate(train_ds, verbose=0, return_dict=True)
        test_eval = model.evaluate(test_ds, verbose=0, return_dict=True)
        fit_epoch = next((row["epoch"] for row in epochs if row.get("accuracy", 0.0) >= 1.0), None)
        record.update(
            status=records.FINISHED,
            final={
                "train_accuracy": float(train_eval["accuracy"]),
                "train_loss": float(train_eval["loss"]),
                "test_accuracy": float(test_eval["accuracy"]),
                "test_loss": float(test_eval["loss"]),
                "generalization_gap": float(train_eval["accuracy"]) - float(test_eval["accuracy"]),
                "epochs_run": len(epochs),
                "fit_epoch": fit_epoch,
            },
        )
        if "top5_accuracy" in train_eval:
            record["final"].update(
                train_top5_accuracy=float(train_eval["top5_accuracy"]),
                test_top5_accuracy=float(test_eval["top5_accuracy"]),
            )
        if label_split:  # LabelSplit measured them on these weights at the last epoch's end: not predicted again
            record["final"].update({k: epochs[-1][k] for k in callbacks.LABEL_SPLIT_KEYS})
    atomic.write_with(os.path.join(config.run_dir, records.WEIGHTS), model.save_weights, suffix=".weights.h5")


def summary(record: dict[str, Any]) -> str:
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
