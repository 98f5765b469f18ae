"""Dropout and Gaussian noise for Arpit et al.'s regularizers (--dropout, --input_dropout, --input_noise,
--hidden_noise), whose randomness is saved with the weights.

Keras' Dropout and GaussianNoise draw from a SeedGenerator whose state save_weights does not keep, so a run
resumed from its backup would draw other masks than an uninterrupted one. Here each draw is a stateless function
of (the layer's seed, its count of training calls), and that count is a weight of the layer: a resumed run
draws what the uninterrupted run would have, bit for bit. Inference (training=False) passes the input through.
"""

import keras
import tensorflow as tf

KINDS = ("dropout", "gaussian")


@keras.saving.register_keras_serializable(package="rethink_tf")
class SeededNoise(keras.layers.Layer):
    """kind "dropout": zero each unit with probability `amount`, scale the rest by 1 / (1 - amount) (inverted
    dropout, as Keras'); kind "gaussian": add N(0, amount^2) noise. Only while training."""

    def __init__(self, kind: str, amount: float, seed: int, **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not (0.0 < amount < 1.0 if kind == "dropout" else amount > 0.0):
            raise ValueError(f"{kind} needs {'a rate in (0, 1)' if kind == 'dropout' else 'a stddev > 0'}")
        self.kind, self.amount, self.seed = kind, float(amount), int(seed)
        self.supports_masking = True

    def build(self, input_shape):
        # The number of training calls so far, the second half of each draw's seed; saved with the weights.
        # only_first_replica: under a MirroredStrategy the replicas' updates are one.
        self.calls = self.add_weight(
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="calls",
        )

    def call(self, inputs, training=None):
        if not training:
            return inputs
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.convert_to_tensor(self.calls)])
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:  # each replica its own draw for its shard
            seed = tf.random.experimental.stateless_fold_in(seed, replica.replica_id_in_sync_group)
        shape = tf.shape(inputs)
        if self.kind == "dropout":
            keep = tf.random.stateless_uniform(shape, seed=seed) >= self.amount
            out = tf.where(keep, inputs / tf.cast(1.0 - self.amount, inputs.dtype), tf.zeros_like(inputs))
        else:
            out = inputs + tf.cast(tf.random.stateless_normal(shape, seed=seed, stddev=self.amount), inputs.dtype)
        self.calls.assign_add(1)  # after the read above: tf.function keeps a resource's reads and writes in order
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "amount": self.amount, "seed": self.seed}
