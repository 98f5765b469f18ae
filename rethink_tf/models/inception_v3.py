"""Inception V3 for the paper's Table 2 (ImageNet): Keras' own keras.applications.InceptionV3 without weights,
its top replaced by global average pooling -> dropout (--dropout, the paper's "dropout" column) -> Dense logits.

Keras builds it for any input of at least 75x75 (the paper: 299x299). Its layers are re-created with this
package's conventions: every kernel initializer seeded from `seed`, and with `weight_decay > 0` an L2 penalty on
every conv and dense kernel, as the other models have.
"""

import keras

from rethink_tf.models._common import SeedStream, kernel_regularizer

MIN_INPUT = 75  # keras.applications.InceptionV3 refuses smaller inputs


def build(input_shape, num_classes: int, *, weight_decay: float = 0.0, seed: int = 0, dropout: float = 0.0):
    """InceptionV3(include_top=False, weights=None, pooling="avg") -> Dropout -> Dense(num_classes) logits."""
    seeds = SeedStream(seed)
    reg = kernel_regularizer(weight_decay)
    base = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=tuple(input_shape), pooling="avg"
    )

    def conventions(layer):
        """The layer re-created from its config with a seeded initializer and the L2 penalty on its kernel."""
        config = layer.get_config()
        if "kernel_initializer" in config:
            config["kernel_initializer"] = keras.initializers.serialize(seeds.glorot_uniform())
            config["kernel_regularizer"] = keras.regularizers.serialize(reg) if reg else None
        return layer.__class__.from_config(config)

    base = keras.models.clone_model(base, clone_function=conventions)
    x = base.output
    logits_init = seeds.glorot_uniform()  # drawn first: the weights are the same with or without dropout
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seeds.next(), name="dropout")(x)
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=logits_init, kernel_regularizer=reg, dtype="float32", name="logits"
    )(x)
    return keras.Model(base.input, logits, name="inception_v3")
