"""The Keras side of a run: build and compile its model, fit it with the standard callbacks, evaluate it at the end.

rethink_tf.train decides what runs and keeps the record; this module only touches Keras and TensorFlow, and writes
the record's epochs through the callbacks it is handed.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable

from rethink_tf import atomic, records
from rethink_tf import config as config_lib


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
        input_dropout=config.input_dropout,
        input_noise=config.input_noise,
        hidden_noise=config.hidden_noise,
        hidden_units=config.hidden_units,
        width_multiplier=config.width_multiplier,
        seed=config.train_seed,
    )


def compile_model(model, config: config_lib.RunConfig, replicas: int = 1, num_classes: int = 10) -> None:
    """SGD with momentum on the cross-entropy of logits, the paper's setup (its update one fused op:
    rethink_tf/optimizers.py), or Adam with --optimizer=adam. XLA only on a GPU, and there as Keras decides: Keras
    turns XLA off under op determinism, on unless --nodeterministic (docs/speed.md). Several steps per call only on
    one replica: under a MirroredStrategy of several, Keras 3.15's multi-step loop fails ("You must feed a value for
    placeholder tensor"), and one step per call gives the same numbers. With more than 10 classes top-5 accuracy
    is measured too (the paper's Table 2 reports it for ImageNet)."""
    import keras
    import tensorflow as tf

    from rethink_tf import optimizers

    model.compile(
        jit_compile="auto" if tf.config.list_physical_devices("GPU") else False,
        optimizer=optimizers.of_config(config),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"]
        + ([keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy")] if num_classes > 10 else []),
        steps_per_execution=config.steps_per_execution if replicas == 1 else 1,
    )


def set_random_seed(seed: int) -> None:
    """keras.utils.set_random_seed(seed) (Python's, NumPy's, TensorFlow's and Keras' global seeds) without the clear
    of TensorFlow's kernel cache that tf.random.set_seed does: after it every traced function is instantiated
    again at its next call, a fixed cost of each run in a process that trains many (docs/speed.md). The clear
    restarts stateful random kernels; every random op of the package is stateless and seeded, so no number
    depends on it."""
    from unittest import mock

    import keras
    from tensorflow.python import pywrap_tfe

    with mock.patch.object(pywrap_tfe, "TFE_ContextClearCaches", lambda handle: None):
        keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def dtype_policy(name: str):
    """Keras' global dtype policy set to `name` while the run builds and trains its model, then put back."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def built_model(config: config_lib.RunConfig, data, distribution):
    """The run's compiled model under the distribution strategy; its initial weights saved to the run dir before
    any step (a resumed run builds the same bits before its restore). On one replica, an earlier run's model of
    the same graph given this one's state, its traced functions reused (rethink_tf.warm)."""
    from rethink_tf import warm

    with distribution.scope():
        model = build(config, data.input_shape, data.num_classes, replicas=distribution.num_replicas_in_sync)
        if config.adversarial:
            from rethink_tf import adversarial, csr

            scale = adversarial.pixel_scale(csr.center_cropped(data.train.images, config))
            model = adversarial.wrap(
                model,
                weight=config.adversarial,
                fraction=config.adversarial_fraction,
                scale=scale,
                seed=config.train_seed,
            )
        compile_model(model, config, replicas=distribution.num_replicas_in_sync, num_classes=data.num_classes)
    initial = os.path.join(config.run_dir, records.INITIAL_WEIGHTS)
    if config.save_weights and not os.path.exists(initial):
        atomic.write_with(initial, model.save_weights, suffix=".weights.h5")
    with distribution.scope():
        _build_state(model, data)  # after the initial weights' file, which holds the model's weights alone
    return warm.adopt(model, warm.key_for(config, data), distribution)


def _build_state(model, data) -> None:
    """The metrics', loss's and optimizer's variables made now, from the input's shape: Keras makes them inside the
    first trace of the train step (it does so up front only under a tf.distribute strategy's scope), and variables
    made in a tf.function's first trace make TensorFlow trace it again, a large part of a short run's cost.
    Keras' own up-front build (Trainer._symbolic_build), which keras.Model exposes no public name for."""
    import tensorflow as tf

    images = tf.zeros((1, *data.input_shape), data.train.images.dtype)
    model._symbolic_build(data_batch=(images, tf.zeros((1,), data.train.labels.dtype)))


def fit(
    config: config_lib.RunConfig,
    model,
    data,
    curve,
    record: records.RunRecord,
    save: Callable[[], None],
    wall_time: Callable[[], float],
    writer,
    progress: str | None,
) -> dict[str, Any] | None:
    """Keras fit of the run from where its backup stands (its curves tested on `curve`, the fixed test subset),
    every epoch appended to the record and saved; then the final evaluation (rethink_tf.records.final_block, None
    when the run diverged) with its weights saved."""
    import keras
    import tensorflow as tf

    from rethink_tf import callbacks
    from rethink_tf.data import pipeline

    label_split = 0.0 < config.corruption_p < 1.0  # training accuracy on changed and kept examples, every epoch
    train_eval_ds = pipeline.eval_dataset(data.train, config)
    test_ds = pipeline.eval_dataset(data.test, config)
    curve_ds = test_ds if curve is data.test else pipeline.eval_dataset(curve, config)
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
        *_training_set_pass(config, data, train_eval_ds, curve, curve_ds, label_split),
        callbacks.GeneralizationGap(),
        *([callbacks.StopWhenFit()] if config.stop_when_fit else []),
        *_critical_sample_ratio(config, data, record),  # after StopWhenFit: it reads whether this epoch is the last
        # The record is saved before the backup, so on resume it is never behind the checkpoint.
        callbacks.RunRecordWriter(record, save, wall_time),
        callbacks.EpochSummaries(writer, record),
        callbacks.AtomicBackupAndRestore(os.path.join(config.run_dir, records.BACKUP)),
        *([callbacks.Progress(progress, config.max_epochs)] if progress else []),
    ]
    model.fit(
        pipeline.train_dataset(data.train, config, epoch),
        epochs=config.max_epochs,
        shuffle=False,
        validation_data=curve_ds,
        validation_freq=config.eval_every,
        callbacks=fit_callbacks,
        verbose=0 if progress else config.verbose,
    )
    final = evaluate_final(config, model, data, train_eval_ds, test_ds, record["epochs"], label_split)
    if config.save_weights:
        atomic.write_with(os.path.join(config.run_dir, records.WEIGHTS), model.save_weights, suffix=".weights.h5")
    return final


def _training_set_pass(config, data, train_eval_ds, curve, curve_ds, label_split: bool) -> list:
    """The TrainingSetPass callback, when the run has label split accuracies or a ledger to keep (else none):
    over the trained examples' pipeline, or every training example's when some are held out."""
    from rethink_tf import callbacks
    from rethink_tf.data import pipeline

    if not (label_split or config.ledger):
        return []
    every_train, trained = data.every_train()
    dataset = train_eval_ds if data.held_out is None else pipeline.eval_dataset(every_train, config)
    rows = _ledger_rows(config, every_train, trained, curve, curve_ds)
    return [callbacks.TrainingSetPass(dataset, every_train, trained, label_split, rows)]


def _critical_sample_ratio(config, data, record) -> list:
    """Arpit et al.'s critical sample ratio in the curves (rethink_tf.csr) when --csr_every asks for it: on fixed
    samples of the trained examples and of the test set (within the curve test subset when no larger), before the
    first step (a new run's) and after every N-th epoch."""
    from rethink_tf import csr

    if not config.csr_every:
        return []
    train, test = (csr.sample(split, config.csr_size, config.seed, config) for split in (data.train, data.test))
    return [csr.CriticalSampleRatio(train, test, config.rgb, config.csr_every, config.max_epochs, config.seed, record)]


def _ledger_rows(config, every_train, trained, curve, curve_ds):
    """What TrainingSetPass needs to keep the run's ledger (None with --noledger): the ledger as it stands in the
    run dir (a resumed run's), or a new one, the curve set's pipeline, and how to save it."""
    from rethink_tf import ledger as ledger_lib

    if not config.ledger:
        return None
    kept = ledger_lib.load(config.run_dir)
    fresh = ledger_lib.Ledger.start(
        ledger_lib.Part.empty(every_train.indices, every_train.labels, _true(every_train), every_train.inputs_changed),
        trained,
        ledger_lib.Part.empty(curve.indices, curve.labels, _true(curve)),
    )
    if kept is None or not kept.same_examples(fresh):
        kept = fresh
    return kept, curve_ds, lambda: ledger_lib.save(config.run_dir, kept)


def _true(split):
    return split.labels if split.true_labels is None else split.true_labels


def evaluate_final(config, model, data, train_ds, test_ds, epochs: list[dict[str, Any]], label_split: bool):
    """The run's final numbers on its whole training and test sets (None when it diverged). train_ds is the
    training set's evaluation pipeline, or None to build it here."""
    from rethink_tf import callbacks
    from rethink_tf.data import pipeline

    if epochs and callbacks.is_nan(epochs[-1].get("loss")):
        return None
    if train_ds is None:
        train_ds = pipeline.eval_dataset(data.train, config)
    train_eval = model.evaluate(train_ds, verbose=0, return_dict=True)
    test_eval = model.evaluate(test_ds, verbose=0, return_dict=True)
    # TrainingSetPass measured the kept / changed accuracies on these weights at the last epoch's end
    split = {k: epochs[-1][k] for k in callbacks.LABEL_SPLIT_KEYS} if label_split else {}
    return records.final_block(train_eval, test_eval, epochs, split)
