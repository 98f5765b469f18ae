"""Helpers shared by the model builders: per-layer initializer seeds, the weight-decay regularizer and the noise
layers of Arpit et al.'s regularizers."""

import dataclasses

import keras
import numpy as np

from rethink_tf.models.noise import SeededNoise


class SeedStream:
    """Hands out a distinct, reproducible initializer seed per layer, derived from one model seed.

    Seeds come from numpy's SeedSequence([seed, counter]) rather than seed + counter, so models built with
    neighbouring seeds (0, 1, ...) never share a layer's initial values.
    """

    def __init__(self, seed: int, stream: int = 0):
        self._seed = int(seed)
        self._stream = int(stream)  # 0: the initializers'; another stream never shares their seeds
        self._counter = 0

    def next(self) -> int:
        entropy = [self._seed, self._counter] + ([self._stream] if self._stream else [])
        state = np.random.SeedSequence(entropy).generate_state(1)[0]
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


@dataclasses.dataclass
class Noise:
    """Arpit et al.'s regularizers as layers (all off by default, adding no layer): Gaussian noise (stddev) then
    dropout (rate) on the inputs, and the same after each hidden layer. Their seeds come from a stream of their
    own, so the initial weights are the same whichever are on; one Noise builds one model (the stream moves)."""

    dropout: float = 0.0
    input_dropout: float = 0.0
    input_noise: float = 0.0
    hidden_noise: float = 0.0
    seed: int = 0
    _seeds: SeedStream = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):
        self._seeds = SeedStream(self.seed, stream=1)

    def _add(self, x, noise: float, rate: float, name: str):
        if noise:
            x = SeededNoise("gaussian", noise, self._seeds.next(), name=f"{name}_noise")(x)
        if rate:
            x = SeededNoise("dropout", rate, self._seeds.next(), name=f"{name}_dropout")(x)
        return x

    def inputs(self, x):
        """After the input layer: --input_noise, then --input_dropout."""
        return self._add(x, self.input_noise, self.input_dropout, "input")

    def hidden(self, x, name: str):
        """After hidden layer `name`: --hidden_noise, then --dropout."""
        return self._add(x, self.hidden_noise, self.dropout, name)


def scaled(channels: int, multiplier: float) -> int:
    """A layer's channels or units times a width multiplier, rounded, at least 1 (1.0: exactly the paper's)."""
    return channels if multiplier == 1.0 else max(1, round(channels * multiplier))
