"""The one place that chooses the tf.distribute strategy a run trains under."""

from __future__ import annotations

import tensorflow as tf


def make_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over every local GPU when there are several; otherwise the default strategy
    (the one GPU if present, else the CPU)."""
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    return tf.distribute.get_strategy()
