"""The paper's "AlexNet (small)" for CIFAR-10 (Zhang et al. 2017, Appendix A): 1,387,786 parameters at 28x28x3."""

import keras
import tensorflow as tf

from rethink_tf.models._common import Noise, SeedStream, kernel_regularizer, scaled
from rethink_tf.models.dense import Dense


@keras.saving.register_keras_serializable(package="rethink_tf")
class LocalResponseNormalization(keras.layers.Layer):
    """`tf.nn.local_response_normalization` across channels (Keras 3 has no LRN layer); no weights.

    Defaults are the TensorFlow CIFAR-10 tutorial's: depth_radius=4, bias=1.0, alpha=0.001/9, beta=0.75.
    """

    def __init__(
        self, depth_radius: int = 4, bias: float = 1.0, alpha: float = 0.001 / 9.0, beta: float = 0.75, **kwargs
    ):
        super().__init__(**kwargs)
        self.depth_radius = depth_radius
        self.bias = bias
        self.alpha = alpha
        self.beta = beta

    def call(self, inputs):
        return tf.nn.local_response_normalization(
            inputs, depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }


def build(
    input_shape,
    num_classes: int,
    *,
    weight_decay: float = 0.0,
    seed: int = 0,
    noise: Noise | None = None,
    width_multiplier: float = 1.0,
) -> keras.Model:
    """Two [Conv 5x5x64 ReLU -> MaxPool 3x3/2 'same' -> LRN] blocks, Dense 384 -> 192 (ReLU) -> logits; `noise`
    (Arpit et al.'s regularizers) after the input, after each block and after each hidden dense layer;
    `width_multiplier` scales the 64, 384 and 192 (a capacity sweep)."""
    seeds = SeedStream(seed)
    reg = kernel_regularizer(weight_decay)
    noise = noise or Noise()
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = noise.inputs(inputs)
    for i in (1, 2):
        x = keras.layers.Conv2D(
            scaled(64, width_multiplier),
            5,
            padding="same",
            activation="relu",
            kernel_initializer=seeds.glorot_uniform(),
            kernel_regularizer=reg,
            name=f"conv{i}",
        )(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i}")(x)
        x = LocalResponseNormalization(name=f"norm{i}")(x)
        x = noise.hidden(x, f"block{i}")
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in ((1, 384), (2, 192)):
        x = Dense(
            scaled(units, width_multiplier),
            activation="relu",
            kernel_initializer=seeds.glorot_uniform(),
            kernel_regularizer=reg,
            name=f"fc{i}",
        )(x)
        x = noise.hidden(x, f"fc{i}")
    # float32 logits even under a mixed-precision policy.
    logits = Dense(
        num_classes, kernel_initializer=seeds.glorot_uniform(), kernel_regularizer=reg, dtype="float32", name="logits"
    )(x)
    return keras.Model(inputs, logits, name="alexnet_small")
