"""The paper's "Inception (small)" for CIFAR-10 (Zhang et al. 2017, Appendix A), with or without BatchNorm.

Both variants have 1,649,402 trainable parameters at 28x28x3: with BatchNorm the convs have no bias and the
BN has an offset but no scale (the only convention that gives the paper's count); without it the convs
keep their biases. BN epsilon is Keras' default and momentum a parameter (the paper gives neither). The
convs start from He initialization: with Keras' default (Glorot) the 22 ReLU layers without BatchNorm
shrink the signal until training stalls at chance (measured: docs/decisions.md, "Models").
"""

import keras

from rethink_tf.models._common import Noise, SeedStream, kernel_regularizer, scaled

# (kind, channels): "inc" = Inception(c1 1x1, c3 3x3); "down" = Downsample(c3 3x3/2 + max pool 3x3/2).
BLOCKS = (
    ("inc", (32, 32)),
    ("inc", (32, 48)),
    ("down", 80),
    ("inc", (112, 48)),
    ("inc", (96, 64)),
    ("inc", (80, 80)),
    ("inc", (48, 96)),
    ("down", 96),
    ("inc", (176, 160)),
    ("inc", (176, 160)),
)


def build(
    input_shape,
    num_classes: int,
    *,
    weight_decay: float = 0.0,
    seed: int = 0,
    batch_norm: bool = True,
    bn_momentum: float = 0.99,
    sync_batch_norm: bool = False,
    noise: Noise | None = None,
    width_multiplier: float = 1.0,
) -> keras.Model:
    """ConvModule(96, 3x3) -> the paper's Inception/Downsample stack -> global average pool -> Dense logits;
    `noise` (Arpit et al.'s regularizers) after the input, the stem and each Inception/Downsample module;
    `width_multiplier` scales every conv's channels (a capacity sweep)."""
    seeds = SeedStream(seed)
    reg = kernel_regularizer(weight_decay)
    noise = noise or Noise()

    def conv_module(x, channels, kernel_size, strides, name):
        """The paper's ConvModule: Conv(C, KxK, stride S, 'same') -> BatchNorm -> ReLU."""
        x = keras.layers.Conv2D(
            scaled(channels, width_multiplier),
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=not batch_norm,
            kernel_initializer=seeds.he_normal(),
            kernel_regularizer=reg,
            name=f"{name}_conv",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(
                center=True, scale=False, momentum=bn_momentum, synchronized=sync_batch_norm, name=f"{name}_bn"
            )(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = noise.hidden(conv_module(noise.inputs(inputs), 96, 3, 1, "stem"), "stem")
    n_inc = n_down = 0
    for kind, channels in BLOCKS:
        if kind == "inc":
            n_inc += 1
            name = f"inception{n_inc}"
            c1, c3 = channels
            branches = [conv_module(x, c1, 1, 1, f"{name}_1x1"), conv_module(x, c3, 3, 1, f"{name}_3x3")]
        else:
            n_down += 1
            name = f"downsample{n_down}"
            branches = [
                conv_module(x, channels, 3, 2, f"{name}_3x3"),
                keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x),
            ]
        x = noise.hidden(keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(branches), name)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    # float32 logits even under a mixed-precision policy.
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=seeds.glorot_uniform(), kernel_regularizer=reg, dtype="float32", name="logits"
    )(x)
    return keras.Model(inputs, logits, name="inception_small")
