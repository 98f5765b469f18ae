"""The one place that chooses how a run uses the machine: its intra-op threads and the tf.distribute strategy
it trains under.

--batch_size is the global batch: each of the strategy's N replicas computes the loss of batch_size / N
examples and the gradients are summed across replicas, so an optimizer step and the learning rate mean
the same as on one device, whatever N is.
"""

from __future__ import annotations

import os

import tensorflow as tf

from rethink_tf.config import ConfigError, RunConfig

# Keras 3's Model.fit fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so it is refused in
# one line; the versions measured and the error: docs/scaling.md ("Several machines training one run").
MULTI_WORKER_UNSUPPORTED = (
    "TF_CONFIG is set, but Keras {keras} cannot train under MultiWorkerMirroredStrategy (keras-team/keras#20585: "
    "Model.fit reduces scalar metrics along axis 0); unset TF_CONFIG and run several workers on one results "
    "directory instead (docs/scaling.md)"
)


def set_threads(config: RunConfig) -> None:
    """TensorFlow's intra-op thread pool at --threads (0 leaves TensorFlow's own, one per core). Call before
    TensorFlow runs its first op; a process whose pool already has another size is refused (ConfigError): a run's
    numbers depend on it, so it is never changed under a run."""
    current = tf.config.threading.get_intra_op_parallelism_threads()
    if current == config.threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    except RuntimeError:
        raise ConfigError(
            f"--threads={config.threads}: TensorFlow's intra-op threads are already set in this process "
            f"({current or 'its own, one per core'}); train the run in a new process"
        ) from None


def make_strategy(config: RunConfig) -> tf.distribute.Strategy:
    """MirroredStrategy over every local GPU when there are several, or over --cpu_devices logical CPU
    devices when there is no GPU; otherwise the default strategy (the one GPU if present, else the CPU).
    Call before TensorFlow runs its first op: logical devices cannot be changed afterwards."""
    if os.environ.get("TF_CONFIG"):
        import keras

        raise ConfigError(MULTI_WORKER_UNSUPPORTED.format(keras=keras.__version__))
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    elif config.cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        wanted = [tf.config.LogicalDeviceConfiguration()] * config.cpu_devices
        if tf.config.get_logical_device_configuration(cpu) != wanted:
            try:
                tf.config.set_logical_device_configuration(cpu, wanted)
            except RuntimeError as e:
                raise ConfigError(
                    f"--cpu_devices={config.cpu_devices}: TensorFlow's devices are already set up in "
                    f"this process ({e}); start a new process"
                ) from None
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    else:
        devices = []
    if len(devices) < 2:
        return tf.distribute.get_strategy()
    if config.batch_size % len(devices):
        raise ConfigError(
            f"--batch_size={config.batch_size} is not allowed: the global batch must split evenly "
            f"over the {len(devices)} replicas ({', '.join(devices)})"
        )
    return tf.distribute.MirroredStrategy(devices)
