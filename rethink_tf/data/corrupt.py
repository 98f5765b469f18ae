"""The randomization tests of Section 2.1: corrupted labels and pixels.

Every corruption of example i is a pure function of (seed, split, i), drawn with TensorFlow's stateless
random ops, so it is the same whatever the batch order, subset, sharding or restart.

Decisions the paper leaves open (docs/decisions.md):
- a pixel permutation moves whole pixels: the channels of a pixel stay together;
- pixel corruptions act on the source image (pixels / 255), before cropping and whitening;
- gaussian pixels use the mean and variance of the training split, over all pixels by default
  (--gaussian_stats=per_channel: one pair per channel);
- input corruptions apply to test images too (shuffled pixels with the same permutation as training);
  test labels stay clean unless --corrupt_test_labels;
- a partial input corruption (gaussian or random_pixels of a fraction p of the training inputs, Arpit et al.'s
  randX) picks each example by a coin of its own stream and corrupts it exactly as the whole corruption would;
  its test images stay real.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

CORRUPTIONS = ("true_labels", "random_labels", "shuffled_pixels", "random_pixels", "gaussian", "random_signs")
# random_signs (the Rademacher probe, Section 2): every label, train and test, becomes a uniform random bit.
SIGN_CLASSES = 2
# Corruptions that replace every training label (so --corrupt has nothing to add).
ALL_LABELS_CORRUPTIONS = ("random_labels", "random_signs")  # also rethink_tf.config's (a test keeps them equal)
INPUT_CORRUPTIONS = ("shuffled_pixels", "random_pixels", "gaussian")
# Input corruptions that --corrupt applies to a fraction of the training inputs (rethink_tf.config's too).
PARTIAL_INPUT_CORRUPTIONS = ("random_pixels", "gaussian")
GAUSSIAN_STATS = ("global", "per_channel")

TRAIN, TEST = 0, 1
# Independent random streams, one per decision, so that e.g. the label coin and the new class never
# share random numbers. A stream id never changes once published: it would change every corruption.
_LABEL_COIN, _LABEL_CLASS, _SHUFFLED_PERMUTATION, _RANDOM_PERMUTATION, _GAUSSIAN = 1, 2, 3, 4, 5
_INPUT_COIN = 6  # a partial input corruption's choice of the examples it corrupts
_STREAMS = 8


def stateless_seed(seed: int, stream: int, split: int, index) -> tf.Tensor:
    """The [2] int64 seed of one decision about example `index` of `split`."""
    key = (int(seed) * _STREAMS + stream) * 2 + split
    return tf.stack([tf.constant(key, tf.int64), tf.cast(index, tf.int64)])


def corrupt_label(label, index, *, p: float, num_classes: int, seed: int, split: int = TRAIN) -> tf.Tensor:
    """With probability p, a uniform random class (which may equal the true one); else `label`."""
    coin = tf.random.stateless_uniform([], seed=stateless_seed(seed, _LABEL_COIN, split, index))
    new = tf.random.stateless_uniform(
        [], seed=stateless_seed(seed, _LABEL_CLASS, split, index), minval=0, maxval=num_classes, dtype=tf.int64
    )
    return tf.where(coin < p, new, tf.cast(label, tf.int64))


def input_coin(index, *, p: float, seed: int, split: int = TRAIN) -> tf.Tensor:
    """Whether a partial input corruption corrupts example `index`: True with probability p."""
    return tf.random.stateless_uniform([], seed=stateless_seed(seed, _INPUT_COIN, split, index)) < p


def inputs_corrupted(indices: np.ndarray, *, p: float, seed: int, split: int = TRAIN) -> np.ndarray:
    """input_coin of each canonical index, as a bool array: which examples a partial input corruption corrupts."""
    with tf.device("/CPU:0"):
        ds = (
            tf.data.Dataset.from_tensor_slices(np.asarray(indices, np.int64))
            .map(lambda i: input_coin(i, p=p, seed=seed, split=split))
            .batch(4096)
        )
        coins = [c for c in ds.as_numpy_iterator()]
    return np.concatenate(coins) if coins else np.zeros(0, bool)


def pixel_permutation(num_pixels: int, seed: tf.Tensor) -> tf.Tensor:
    """A uniformly random permutation of range(num_pixels) from a stateless seed."""
    return tf.argsort(tf.random.stateless_uniform([num_pixels], seed=seed), stable=True)


def corrupt_image(image, index, *, kind: str, seed: int, split: int = TRAIN, mean=None, std=None) -> tf.Tensor:
    """Applies an input corruption to one float image [H, W, C]; `mean`/`std` are for gaussian."""
    image = tf.convert_to_tensor(image, tf.float32)
    height, width, channels = image.shape
    if kind in ("shuffled_pixels", "random_pixels"):
        if kind == "shuffled_pixels":  # one permutation for every image of both splits
            perm_seed = stateless_seed(seed, _SHUFFLED_PERMUTATION, TRAIN, 0)
        else:
            perm_seed = stateless_seed(seed, _RANDOM_PERMUTATION, split, index)
        perm = pixel_permutation(height * width, perm_seed)
        pixels = tf.reshape(image, [height * width, channels])
        return tf.reshape(tf.gather(pixels, perm), [height, width, channels])
    if kind == "gaussian":
        noise = tf.random.stateless_normal(
            [height, width, channels], seed=stateless_seed(seed, _GAUSSIAN, split, index)
        )
        return noise * tf.constant(std, tf.float32) + tf.constant(mean, tf.float32)
    raise ValueError(f"not an input corruption: {kind!r} (one of {', '.join(INPUT_CORRUPTIONS)})")


def pixel_stats(images: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of uint8 images on the pixels / 255 scale, global or per channel: from each
    channel's count of the 256 pixel values, not from a float64 copy of the split (8 CPU-seconds and 376 MB on
    Fashion-MNIST's 60,000 images, paid by every gaussian run; the same float32 values, docs/speed.md)."""
    channels = images.shape[-1]
    flat = images.reshape(-1, channels)
    counts = np.stack([np.bincount(flat[:, c], minlength=256) for c in range(channels)]).astype(np.float64)
    if mode != "per_channel":
        counts = counts.sum(axis=0, keepdims=True)
    values = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum(axis=1)
    mean = counts @ values / n
    std = np.sqrt((counts * (values - mean[:, None]) ** 2).sum(axis=1) / n)
    return np.broadcast_to(mean, (channels,)).astype(np.float32), np.broadcast_to(std, (channels,)).astype(np.float32)


def corrupt_split(
    images: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    *,
    corruption: str,
    label_noise: float,
    num_classes: int,
    seed: int,
    split: int,
    mean=None,
    std=None,
    input_fraction: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupts a whole split once, in a tf.data map, returning float32 pixels / 255 and int64 labels.

    `indices` are the examples' positions in the source's canonical order: they, not the position
    in a subset or a batch, key the random streams. An input corruption corrupts every input when
    `input_fraction` is 1, none when 0, else those that input_coin picks (inputs_corrupted says which), each as
    the whole corruption would.
    """

    def corrupt_one(image, label, index):
        image = tf.cast(image, tf.float32) / 255.0
        if corruption in INPUT_CORRUPTIONS and input_fraction > 0:
            corrupted = corrupt_image(image, index, kind=corruption, seed=seed, split=split, mean=mean, std=std)
            if input_fraction < 1:
                corrupted = tf.where(input_coin(index, p=input_fraction, seed=seed, split=split), corrupted, image)
            image = corrupted
        if corruption == "random_signs":
            label = corrupt_label(0, index, p=1.0, num_classes=SIGN_CLASSES, seed=seed, split=split)
        elif label_noise > 0:
            label = corrupt_label(label, index, p=label_noise, num_classes=num_classes, seed=seed, split=split)
        return image, tf.cast(label, tf.int64)

    with tf.device("/CPU:0"):
        ds = (
            tf.data.Dataset.from_tensor_slices((images, labels, indices.astype(np.int64)))
            .map(corrupt_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(4096)
        )
        out_images, out_labels = [], []
        for x, y in ds.as_numpy_iterator():
            out_images.append(x)
            out_labels.append(y)
    if not out_images:
        return np.zeros((0,) + images.shape[1:], np.float32), np.zeros((0,), np.int64)
    return np.concatenate(out_images), np.concatenate(out_labels)
