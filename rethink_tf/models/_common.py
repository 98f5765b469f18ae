"""Helpers shared by the model builders: per-layer initializer seeds and the weight-decay regularizer."""

import keras
import numpy as np


class SeedStream:
    """Hands out a distinct, reproducible initializer seed per layer, derived from one model seed.

    Seeds come from numpy's SeedSequence([seed, counter]) rather than seed + counter, so models built with
    neighbouring seeds (0, 1, ...) never share a layer's initial values.
    """

    def __init__(self, seed: int):
        self._seed = int(seed)
        self._counter = 0

    def next(self) -> int:
        state = np.random.SeedSequence([self._seed, self._counter]).generate_state(1)[0]
        self._counter += 1
        return int(state) & 0x7FFFFFFF

    def glorot_uniform(self) -> keras.initializers.Initializer:
        """Keras' default kernel initializer (the paper does not name one), with this stream's next seed."""
        return keras.initializers.GlorotUniform(seed=self.next())

    def he_normal(self) -> keras.initializers.Initializer:
        """He et al.'s variance-preserving initializer for ReLU layers, with this stream's next seed."""
        return keras.initializers.HeNormal(seed=self.next())


def kernel_regularizer(weight_decay: float):
    """L2 penalty for a conv/dense kernel: loss += weight_decay * sum(w**2); None when weight_decay is 0."""
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    return keras.regularizers.L2(weight_decay) if weight_decay > 0 else None
