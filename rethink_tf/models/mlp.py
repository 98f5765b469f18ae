"""The paper's multi-layer perceptrons, "MLP 1x512" and "MLP 3x512" (Zhang et al. 2017, Table 1)."""

import keras

from rethink_tf.models._common import Noise, SeedStream, kernel_regularizer
from rethink_tf.models.dense import Dense


def build(
    input_shape,
    num_classes: int,
    *,
    weight_decay: float = 0.0,
    seed: int = 0,
    num_hidden_layers: int = 1,
    width: int = 512,
    name: str | None = None,
    noise: Noise | None = None,
) -> keras.Model:
    """Flatten -> num_hidden_layers x Dense(width, ReLU) -> Dense(num_classes) logits; `noise` (Arpit et al.'s
    regularizers) after the input and after each hidden layer.

    1,209,866 parameters (one hidden layer) or 1,735,178 (three) for 28x28x3 input and 10 classes.
    The width-to-width hidden layers take their gradients from Eigen, faster there than oneDNN (dense.py).
    """
    seeds = SeedStream(seed)
    reg = kernel_regularizer(weight_decay)
    noise = noise or Noise()
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = keras.layers.Flatten(name="flatten")(noise.inputs(inputs))
    for i in range(1, num_hidden_layers + 1):
        x = Dense(
            width,
            activation="relu",
            kernel_initializer=seeds.glorot_uniform(),
            kernel_regularizer=reg,
            eigen_backward=i > 1,
            name=f"hidden_{i}",
        )(x)
        x = noise.hidden(x, f"hidden_{i}")
    # float32 logits even under a mixed-precision policy.
    logits = Dense(
        num_classes, kernel_initializer=seeds.glorot_uniform(), kernel_regularizer=reg, dtype="float32", name="logits"
    )(x)
    return keras.Model(inputs, logits, name=name or f"mlp_{num_hidden_layers}x{width}")


def build_1x512(
    input_shape, num_classes: int, *, weight_decay: float = 0.0, seed: int = 0, noise=None, width: int = 512
) -> keras.Model:
    """The paper's "MLP 1x512": one hidden layer of 512 ReLU units (`width` of them in a capacity sweep)."""
    return build(
        input_shape,
        num_classes,
        weight_decay=weight_decay,
        seed=seed,
        num_hidden_layers=1,
        width=width,
        name="mlp_1x512" if width == 512 else f"mlp_1x{width}",
        noise=noise,
    )


def build_3x512(
    input_shape, num_classes: int, *, weight_decay: float = 0.0, seed: int = 0, noise=None, width: int = 512
) -> keras.Model:
    """The paper's "MLP 3x512": three hidden layers of 512 ReLU units (`width` each in a capacity sweep)."""
    return build(
        input_shape,
        num_classes,
        weight_decay=weight_decay,
        seed=seed,
        num_hidden_layers=3,
        width=width,
        name="mlp_3x512" if width == 512 else f"mlp_3x{width}",
        noise=noise,
    )
