"""Tests for rethink_tf.optimizers: the fused momentum update gives Keras SGD's numbers bit for bit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rethink_tf.models import build_model
from rethink_tf.optimizers import MomentumSGD


def _train(optimizer, steps=8):
    """Weights and momentum buffers of a small seeded AlexNet after `steps` SGD steps on seeded batches."""
    model = build_model("alexnet_small", input_shape=(12, 12, 3), num_classes=10, weight_decay=5e-4, seed=3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True)) + tf.add_n(model.losses)
        optimizer.apply(tape.gradient(loss, variables), variables)

    for i in range(steps):
        step(
            tf.random.stateless_normal([16, 12, 12, 3], seed=[i, 0]),
            tf.random.stateless_uniform([16], seed=[i, 1], maxval=10, dtype=tf.int64),
        )
    return [v.numpy() for v in variables] + [m.numpy() for m in optimizer.momentums]


@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_same_numbers_as_keras_sgd(momentum):
    fused = _train(MomentumSGD(learning_rate=0.05, momentum=momentum))
    keras_sgd = _train(keras.optimizers.SGD(learning_rate=0.05, momentum=momentum))
    assert len(fused) == len(keras_sgd) == (20 if momentum else 10)  # 5 kernels, 5 biases (and 10 momentums)
    assert all(np.array_equal(a, b) for a, b in zip(fused, keras_sgd))
    assert not np.array_equal(fused[0], _train(MomentumSGD(learning_rate=0.05, momentum=momentum), steps=0)[0])
