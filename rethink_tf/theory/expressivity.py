"""Theorem 1 (Section 4): a depth-two ReLU network with 2n + d weights fits any n distinct points in R^d.

c(x) = sum_j w_j max(<a, x> - b_j, 0): a random direction a (d weights) makes the projections z_i distinct;
thresholds b (n weights) interleave the sorted projections, b_1 < z_1 < b_2 < ... < b_n < z_n, so the
matrix A_ij = max(z_i - b_j, 0) is lower triangular with a positive diagonal (Lemma 1) and A w = y has a
solution (n weights). The experiment on real images is rethink_tf/experiments/theorem1.py.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from rethink_tf.errors import BadInput

_THRESHOLD_OFFSET = 1e-3  # where b_k sits in the gap (z_(k-1), z_k), as a fraction of it


class DuplicatePointsError(BadInput, ValueError):
    """Two equal points with different targets: no function, hence no network, can fit them."""


@dataclasses.dataclass(frozen=True)
class Construction:
    """The network's weights, in the order of the points' projections."""

    direction: np.ndarray  # a, [d]
    thresholds: np.ndarray  # b, [n], increasing
    weights: np.ndarray  # w, [n]

    @property
    def num_weights(self) -> int:
        return self.direction.size + self.thresholds.size + self.weights.size


def construct(
    points: np.ndarray, targets: np.ndarray, seed: int = 0, max_tries: int = 10
) -> tuple[Construction, float]:
    """The Theorem 1 network for points [n, ...] (flattened to [n, d]) and real targets [n], in float64;
    returns it and the smallest diagonal entry of A.

    The forward substitution is O(n), not O(n^2), and never forms A: on the sorted points c is piecewise
    linear, with slope s_k = w_1 + ... + w_k between b_k and b_(k+1), so
    c(z_k) - c(z_(k-1)) = s_(k-1) (b_k - z_(k-1)) + s_k (z_k - b_k), solved for s_k. Each b_k sits just
    above z_(k-1) (a fraction _THRESHOLD_OFFSET of the gap), so s_k is nearly the slope of the straight
    line between the two points and the weights stay as small as the gaps allow (midpoints make the
    slopes alternate and grow; docs/theory.md has the measured norms).
    """
    x = np.asarray(points, np.float64).reshape(len(points), -1)
    y = np.asarray(targets, np.float64).reshape(-1)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many targets as points (>= 1), got {len(x)} points and {len(y)} targets")
    _check_duplicates(x, y)
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):  # distinct points project to distinct values with probability 1
        a = rng.standard_normal(x.shape[1])
        a /= np.linalg.norm(a)
        z = x @ a
        order = np.argsort(z, kind="stable")
        zs, ys = z[order], y[order]
        gaps = np.diff(zs)
        if np.all(gaps > 0):
            break
    else:
        raise ValueError(f"no direction in {max_tries} tries separates the points' projections")
    first = (zs[-1] - zs[0]) / (len(zs) - 1) if len(zs) > 1 else 1.0  # b_1: one mean gap below z_1
    b = np.concatenate([[zs[0] - first], zs[:-1] + _THRESHOLD_OFFSET * gaps])
    if not (np.all(b[1:] > zs[:-1]) and np.all(b < zs)):
        raise ValueError("the projections are too close for float64 to put a threshold between them")
    diag = zs - b  # A's diagonal
    slopes = np.empty_like(zs)
    slopes[0] = ys[0] / diag[0]
    for k in range(1, len(zs)):
        slopes[k] = (ys[k] - ys[k - 1] - slopes[k - 1] * (b[k] - zs[k - 1])) / diag[k]
    w = np.diff(slopes, prepend=0.0)
    return Construction(a, b, w), float(diag.min())


def _check_duplicates(x: np.ndarray, y: np.ndarray) -> None:
    unique, first, inverse = np.unique(x, axis=0, return_index=True, return_inverse=True)
    if len(unique) == len(x):
        return
    inverse = inverse.reshape(-1)
    clash = np.flatnonzero(y != y[first[inverse]])
    if len(clash):
        i = int(clash[0])
        raise DuplicatePointsError(
            f"points {int(first[inverse[i]])} and {i} are equal but have targets "
            f"{y[first[inverse[i]]]:g} and {y[i]:g}: remove duplicate points first"
        )
    raise DuplicatePointsError(
        f"{len(x) - len(unique)} duplicate points (with equal targets): the theorem needs "
        "distinct points; remove the duplicates first"
    )


class Thresholds(keras.layers.Layer):
    """relu(z - b_j) for n thresholds b_j of one scalar z: n weights. Written by hand because no Keras
    layer does this with n weights (a Dense(n) would add an n-vector kernel to its bias)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, z):
        return keras.ops.relu(z - self.b)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def keras_model(construction: Construction) -> keras.Model:
    """The construction as a Keras model with exactly 2n + d weights, in float64:
    Dense(1, no bias) -> Thresholds (relu(z - b)) -> Dense(1, no bias)."""
    d, n = construction.direction.size, construction.thresholds.size
    inputs = keras.Input(shape=(d,), dtype="float64", name="points")
    z = keras.layers.Dense(1, use_bias=False, dtype="float64", name="direction")(inputs)
    h = Thresholds(n, dtype="float64", name="thresholds")(z)
    out = keras.layers.Dense(1, use_bias=False, dtype="float64", name="output")(h)
    model = keras.Model(inputs, out, name="theorem1")
    model.get_layer("direction").set_weights([construction.direction.reshape(d, 1)])
    model.get_layer("thresholds").set_weights([construction.thresholds])
    model.get_layer("output").set_weights([construction.weights.reshape(n, 1)])
    return model


def predict(model: keras.Model, points: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """The model's outputs on points, in float64 throughout (Model.predict would cast numpy inputs to
    float32, which moves the projections by more than the smallest gaps)."""
    x = np.asarray(points, np.float64).reshape(len(points), -1)
    out = [
        keras.ops.convert_to_numpy(model(keras.ops.convert_to_tensor(x[i : i + batch_size], "float64")))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out).reshape(-1)
