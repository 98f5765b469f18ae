"""Section 5: minimum-norm kernel interpolation. Solve K alpha = Y exactly (or with an l2 term) on the
training set, predict with the kernel, and report the test error and the RKHS norm sqrt(<alpha, K alpha>).

The solve is a float64 Cholesky factorization in TensorFlow (tf.linalg, so it runs on a GPU when there is
one); K of n examples takes 8 n^2 bytes and the factor as much again, which bounds n by memory.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from rethink_tf.errors import BadInput

# The first author's recipe for MNIST (PAPER.md): pixels / 255, one-hot targets, exp(-0.02 ||x - x'||^2).
PIXEL_GAMMA = 0.02


class KernelError(BadInput, ValueError):
    """A kernel matrix that float64 cannot factor (numerically singular: near-duplicate examples)."""


def gaussian_kernel(a: np.ndarray, b: np.ndarray, gamma: float, block: int = 2048) -> tf.Tensor:
    """exp(-gamma ||a_i - b_j||^2) in float64, [len(a), len(b)], computed a block of rows at a time."""
    b = tf.convert_to_tensor(b, tf.float64)
    b_sq = tf.reduce_sum(b * b, axis=1)
    rows = []
    for start in range(0, len(a), block):
        x = tf.convert_to_tensor(a[start : start + block], tf.float64)
        sq = tf.reduce_sum(x * x, axis=1)[:, None] + b_sq[None, :] - 2.0 * tf.matmul(x, b, transpose_b=True)
        rows.append(tf.exp(-gamma * tf.maximum(sq, 0.0)))
    return tf.concat(rows, axis=0)


def median_gamma(x: np.ndarray, seed: int, sample: int = 1000) -> float:
    """1 / the median squared distance between examples (on a seeded sample): a scale-free bandwidth for
    features whose scale no recipe fixes."""
    rng = np.random.default_rng([seed, 5])
    s = x[rng.choice(len(x), size=min(sample, len(x)), replace=False)].astype(np.float64)
    sq = (s * s).sum(1)[:, None] + (s * s).sum(1)[None, :] - 2 * s @ s.T
    return float(1.0 / np.median(sq[np.triu_indices(len(s), 1)]))


def random_conv_features(images: np.ndarray, num_filters: int, seed: int, batch: int = 1000) -> np.ndarray:
    """The paper's random-feature preprocessing, small: num_filters random 5x5 Gaussian filters, ReLU,
    4x4 average pooling, flattened. images: [N, H, W, C] in [0, 1]."""
    rng = np.random.default_rng([seed, 6])
    filters = tf.constant(rng.standard_normal((5, 5, images.shape[-1], num_filters)) / 5.0, tf.float32)
    out = []
    for start in range(0, len(images), batch):
        x = tf.nn.relu(tf.nn.conv2d(tf.constant(images[start : start + batch], tf.float32), filters, 1, "VALID"))
        out.append(tf.reshape(tf.nn.avg_pool2d(x, 4, 4, "VALID"), [len(x), -1]).numpy())
    return np.concatenate(out)


def solve(k: tf.Tensor, y: np.ndarray, l2: float = 0.0) -> tf.Tensor:
    """alpha with (K + l2 I) alpha = y, by Cholesky; KernelError when K + l2 I is not numerically positive definite."""
    if l2:
        k = k + l2 * tf.eye(k.shape[0], dtype=k.dtype)
    try:
        chol = tf.linalg.cholesky(k)
    except tf.errors.InvalidArgumentError as e:
        raise KernelError(_singular(k.shape[0], l2, e.message)) from None
    if not bool(tf.reduce_all(tf.math.is_finite(chol))):
        raise KernelError(_singular(k.shape[0], l2, "non-finite factor"))
    return tf.linalg.cholesky_solve(chol, tf.convert_to_tensor(y, tf.float64))


def _singular(n: int, l2: float, detail: str) -> str:
    return (
        f"the kernel matrix of {n} examples{f' plus {l2:g} I' if l2 else ''} is numerically singular ({detail}): "
        "near-duplicate examples have no exact interpolant; remove them, or solve with a larger l2 term "
        "(--kernel_l2 for the regularized row)"
    )


def interpolate(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    num_classes: int,
    gamma: float,
    l2: float = 0.0,
) -> dict[str, float]:
    """Fits one-hot training targets with the Gaussian kernel and tests it: the test error (%), the
    training error (%, 0 when it interpolates), the RKHS norm and the seconds each step took."""
    targets = np.eye(num_classes)[train_y]
    started = time.perf_counter()
    k = gaussian_kernel(train_x, train_x, gamma)
    alpha = solve(k, targets, l2)
    solve_s = time.perf_counter() - started
    fitted = tf.matmul(k, alpha)
    train_pred = tf.argmax(fitted, axis=1).numpy()
    norm = float(tf.sqrt(tf.reduce_sum(alpha * fitted)))
    del k
    started = time.perf_counter()
    test_pred = np.concatenate(
        [
            tf.argmax(tf.matmul(gaussian_kernel(test_x[i : i + 2048], train_x, gamma), alpha), axis=1).numpy()
            for i in range(0, len(test_x), 2048)
        ]
    )
    return {
        "test_error": 100 * float(np.mean(test_pred != test_y)),
        "train_error": 100 * float(np.mean(train_pred != train_y)),
        "rkhs_norm": norm,
        "solve_s": solve_s,
        "test_s": time.perf_counter() - started,
    }
