"""From raw splits to the tf.data pipelines that fit and evaluate read.

prepare() does the one-time work (subset, corrupt, fingerprint) and returns arrays in memory;
train_dataset() and eval_dataset() crop, whiten and batch them. The training order of epoch e is a
pure function of (seed, e), read from an epoch variable, so a resumed run sees the same batches.
Every function reads a run's settings from `config`, a RunConfig passed down by the layers above (never
imported here: data sits below config in the flow), by the field names of PipelineConfig.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Protocol

import numpy as np
import tensorflow as tf

from rethink_tf.data import corrupt, sources

# Streams of the training-time randomness. Their keys (_stream_key) are negative, so they never meet
# the non-negative keys of corrupt.py.
_SUBSET, _SHUFFLE, _CROP, _AUGMENT, _HELD_OUT = 101, 102, 103, 104, 105
# A source image no larger than the crop is zero-padded so that a random crop moves up to two pixels
# each way, as a 28x28 crop does inside a 32x32 CIFAR-10 image.
_CROP_SLACK = 4
# Fixed tf.data parallelism instead of its autotuner: ending an epoch's iterator waited for the autotuner's
# thread (docs/speed.md).
_PARALLEL_CALLS = os.cpu_count() or 1
_PREFETCH_BATCHES = 2
# --augment: the paper's Table 4 augmentation, a horizontal flip and a rotation within this many degrees.
MAX_ROTATION_DEGREES = 25.0


class PipelineConfig(Protocol):
    """The fields of a RunConfig that the data pipeline reads."""

    train_size: int
    test_size: int
    curve_test_size: int
    corruption: str
    label_noise: float
    corrupted_inputs: float
    corrupt_test_labels: bool
    gaussian_stats: str
    rgb: bool
    crop_size: int
    random_crop: bool
    augment: bool
    batch_size: int
    seed: int
    train_seed: int
    train_fraction: float


@dataclasses.dataclass(frozen=True)
class Split:
    """A corrupted split in memory: float32 pixels / 255 [N, H, W, C], int64 labels, canonical indices, the
    labels before corruption (None: the labels are the true ones) and, for a partial input corruption, which
    examples' inputs it corrupted (None: all or none, as the corruption says)."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    true_labels: np.ndarray | None = None
    inputs_changed: np.ndarray | None = None

    @property
    def labels_changed(self) -> np.ndarray:
        """Which examples' labels the corruption changed (a new class, not a draw of the true one)."""
        if self.true_labels is None:
            return np.zeros(len(self.labels), bool)
        return self.labels != self.true_labels

    @property
    def changed(self) -> np.ndarray:
        """Which examples the corruption changed: their label, or (a partial input corruption) their input."""
        return self.labels_changed if self.inputs_changed is None else self.labels_changed | self.inputs_changed

    def take(self, positions: np.ndarray) -> "Split":
        """The examples at `positions` (an index array or a bool mask), each with its own facts."""
        true = None if self.true_labels is None else self.true_labels[positions]
        inputs = None if self.inputs_changed is None else self.inputs_changed[positions]
        return Split(self.images[positions], self.labels[positions], self.indices[positions], true, inputs)


@dataclasses.dataclass(frozen=True)
class Prepared:
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, int, int]
    origin: str
    fingerprints: dict[str, str]
    labels_changed: float
    image_shape: tuple[int, int, int] = ()  # of the source's images, before the crop
    class_names: tuple[str, ...] | None = None
    held_out: Split | None = None  # --train_fraction < 1: the training examples not trained on
    inputs_changed: float = 0.0  # the fraction of training inputs corrupted (1: every one, test images too)

    def every_train(self) -> tuple[Split, np.ndarray]:
        """Every training example, trained on or held out, in canonical order, and which were trained on."""
        if self.held_out is None:
            return self.train, np.ones(len(self.train.labels), bool)
        order = np.argsort(np.concatenate([self.train.indices, self.held_out.indices]), kind="stable")

        def cat(a, b):
            return np.concatenate([a, b])[order]

        t, h = self.train, self.held_out
        trained = cat(np.ones(len(t.labels), bool), np.zeros(len(h.labels), bool))
        true = None if t.true_labels is None else cat(t.true_labels, h.true_labels)
        inputs = None if t.inputs_changed is None else cat(t.inputs_changed, h.inputs_changed)
        every = Split(cat(t.images, h.images), cat(t.labels, h.labels), cat(t.indices, h.indices), true, inputs)
        return every, trained


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted canonical indices of a class-stratified subset of `size` examples (0: all).

    Each class gets its share of `size`, within one of size * n_c / n, by Balinski and Young's quota
    method: seats are handed out one at a time, so a class's share never shrinks as `size` grows (largest
    remainders would: the Alabama paradox). Within a class the examples come first-come from one seeded
    permutation, so a smaller subset is contained in a larger one.
    """
    n = len(labels)
    if size == 0 or size >= n:
        return np.arange(n)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.zeros(len(classes), np.int64)
    for k in range(1, size + 1):  # seat k: the largest counts / (quota + 1) among classes below upper quota
        eligible = quota * n < k * counts
        quota[np.argmax(np.where(eligible, counts / (quota + 1), -1.0))] += 1
    rng = np.random.default_rng([seed, _SUBSET])
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def prepare(config: PipelineConfig, raw: sources.RawData | None = None) -> Prepared:
    """Loads (unless given), subsets and corrupts the data of a run, once."""
    raw = raw or sources.load_for(config)
    sources.check_sizes(raw, config.train_size, config.test_size)
    mean = std = None
    if config.corruption == "gaussian":
        mean, std = corrupt.pixel_stats(raw.train.images, config.gaussian_stats)

    def one(split_raw: sources.RawSplit, size: int, split: int, label_noise: float, inputs: float) -> Split:
        idx = stratified_subset(split_raw.labels, size, config.seed + split)
        images, labels = corrupt.corrupt_split(
            split_raw.images[idx],
            split_raw.labels[idx],
            idx,
            corruption=config.corruption,
            label_noise=label_noise,
            num_classes=raw.num_classes,
            seed=config.seed,
            split=split,
            mean=mean,
            std=std,
            input_fraction=inputs,
        )
        changed = corrupt.inputs_corrupted(idx, p=inputs, seed=config.seed, split=split) if 0 < inputs < 1 else None
        return Split(images, labels, idx, split_raw.labels[idx], changed)

    # A partial input corruption (0 < p < 1) corrupts training inputs only: its test images stay real.
    inputs = config.corrupted_inputs
    train = one(raw.train, config.train_size, corrupt.TRAIN, config.label_noise, inputs)
    train, held_out = hold_out(train, config.train_fraction, config.train_seed)
    test_labels = config.label_noise if config.corrupt_test_labels else 0.0
    test_inputs = 1.0 if inputs == 1 else 0.0
    test, test_fingerprints = _kept(
        _test_key(config, raw, test_labels, test_inputs, mean, std),
        lambda: _fingerprinted(_read_only(one(raw.test, config.test_size, corrupt.TEST, test_labels, test_inputs))),
    )
    channels = 3 if config.rgb else raw.train.images.shape[-1]
    crop = _crop(config, raw.train.images)
    fingerprints = {
        "source": raw.fingerprint,
        "train_indices": sources.fingerprint(train.indices),
        "train_labels": sources.fingerprint(train.labels),
        "train_images": sources.fingerprint(train.images),
        **test_fingerprints,
    }
    changed = float(np.mean(train.labels_changed)) if len(train.labels) else 0.0
    num_classes = corrupt.SIGN_CLASSES if config.corruption == "random_signs" else raw.num_classes
    return Prepared(
        train,
        test,
        num_classes,
        (crop, crop, channels),
        raw.origin,
        fingerprints,
        changed,
        tuple(raw.train.images.shape[1:]),
        raw.class_names,
        held_out,
        inputs if train.inputs_changed is None or not len(train.labels) else float(np.mean(train.inputs_changed)),
    )


# What the runs of one process share, least recently used first: a grid's runs of one data set share its test
# split (converted and fingerprinted once, kept with its fingerprints) and the whitened copies and variables
# evaluation reads (made once), a run's measures reuse its whitened training split. A key that names an array by
# id() keeps the array in its entry, so the id is not reused while the entry lives; kept arrays are read-only. At
# most _KEPT_ENTRIES entries and _KEPT_BYTES of arrays, so a paper-scale split is not held long after its run.
_KEPT: "collections.OrderedDict[tuple, tuple]" = collections.OrderedDict()
_KEPT_ENTRIES = 16
_KEPT_BYTES = 1 << 30


def _kept(key: tuple, make, keep=None):
    """make()'s value, made once per key while the key stays among the kept ones; `keep` is held with it."""
    if key in _KEPT:
        _KEPT.move_to_end(key)
        return _KEPT[key][0]
    value = make()
    _KEPT[key] = (value, keep, _nbytes(value) + _nbytes(keep))
    while len(_KEPT) > 1 and (len(_KEPT) > _KEPT_ENTRIES or sum(entry[2] for entry in _KEPT.values()) > _KEPT_BYTES):
        _KEPT.popitem(last=False)
    return value


def _nbytes(value) -> int:
    if isinstance(value, Split):
        return value.images.nbytes + value.labels.nbytes
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 0) or 0)


def clear_kept() -> None:
    """Forgets what the runs of this process share (tests; a notebook that wants the memory back)."""
    _KEPT.clear()


def _read_only(split: Split) -> Split:
    for array in (split.images, split.labels, split.indices, split.true_labels, split.inputs_changed):
        if array is not None:
            array.setflags(write=False)
    return split


def _test_key(config: PipelineConfig, raw: sources.RawData, labels: float, inputs: float, mean, std) -> tuple:
    """What a run's test split depends on: the source's data, the subset (its seed only when it is one), and the
    corruption when it changes a test label or image (then its seed, kind and statistics too)."""
    n = len(raw.test.labels)
    subset = 0 < config.test_size < n
    changes = (
        labels > 0
        or config.corruption == "random_signs"
        or (inputs > 0 and config.corruption in corrupt.INPUT_CORRUPTIONS)
    )
    stats = None if mean is None else (np.asarray(mean).tobytes(), np.asarray(std).tobytes())
    return (
        "test split",
        raw.fingerprint,
        raw.num_classes,
        min(config.test_size, n) or n,
        config.seed if subset or changes else None,
        (config.corruption, labels, inputs, stats) if changes else None,
    )


def _fingerprinted(test: Split) -> tuple[Split, dict[str, str]]:
    return test, {"test_labels": sources.fingerprint(test.labels), "test_images": sources.fingerprint(test.images)}


def hold_out(split: Split, fraction: float, seed: int) -> tuple[Split, Split | None]:
    """(trained, held out): a seeded random round(fraction * N) of the split's examples, the rest held out (None
    when fraction is 1). Both keep canonical order, and each example its corrupted label."""
    if fraction >= 1:
        return split, None
    n = len(split.labels)
    chosen = np.zeros(n, bool)
    chosen[np.random.default_rng([seed, _HELD_OUT]).permutation(n)[: max(1, round(fraction * n))]] = True

    return split.take(chosen), split.take(~chosen)


def curve_split(test: Split, config: PipelineConfig) -> Split:
    """The test examples behind the periodic test curves: a class-stratified subset of --curve_test_size
    (all when 0), so that testing during training costs less than the final test on the whole split."""
    if not config.curve_test_size:
        return test  # no copy of the whole split
    subset = lambda: _read_only(test.take(stratified_subset(test.labels, config.curve_test_size, config.seed)))
    return _kept(("curve", id(test), config.curve_test_size, config.seed), subset, keep=test)


def _crop(config: PipelineConfig, images: np.ndarray) -> int:
    return sources.crop_size(config.crop_size, images.shape[1:])


def _stream_key(seed: int, stream: int) -> int:
    return -(seed * 1000 + stream)


def _to_rgb_and_whiten(images: tf.Tensor, rgb: bool) -> tf.Tensor:
    """Grayscale to RGB if asked, then the paper's per-image whitening."""
    if rgb and images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    return tf.image.per_image_standardization(images)


def _random_crop(images: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """A different random size x size window of each image of a batch (zero-padded when too small)."""
    height, width = images.shape[1], images.shape[2]
    pad_h, pad_w = max(0, size + _CROP_SLACK - height), max(0, size + _CROP_SLACK - width)
    if pad_h or pad_w:
        images = tf.pad(images, [[0, 0], [pad_h // 2, pad_h - pad_h // 2], [pad_w // 2, pad_w - pad_w // 2], [0, 0]])
        height, width = height + pad_h, width + pad_w
    u = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed=seed)
    top = tf.cast(u[:, :1] * (height - size + 1), tf.int32)
    left = tf.cast(u[:, 1:] * (width - size + 1), tf.int32)
    images = tf.gather(images, top + tf.range(size), axis=1, batch_dims=1)
    return tf.gather(images, left + tf.range(size), axis=2, batch_dims=1)


def _flip_and_rotate(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Each image of a batch flipped left-right with probability 1/2, then rotated about its center by a
    uniform angle within +-MAX_ROTATION_DEGREES (corners filled with zeros)."""
    u = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed=seed)
    images = tf.where(u[:, 0, None, None, None] < 0.5, tf.reverse(images, axis=[2]), images)
    angle = (2.0 * u[:, 1] - 1.0) * MAX_ROTATION_DEGREES * np.pi / 180.0
    height, width = float(images.shape[1]), float(images.shape[2])
    cos, sin = tf.cos(angle), tf.sin(angle)
    # The projective transform maps each output pixel to the input pixel it reads: a rotation about the center.
    x_offset = ((width - 1) - (cos * (width - 1) - sin * (height - 1))) / 2.0
    y_offset = ((height - 1) - (sin * (width - 1) + cos * (height - 1))) / 2.0
    zeros = tf.zeros_like(angle)
    transforms = tf.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def gather_batch(images: tf.Variable, labels: tf.Variable, positions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The batch of (images, labels) at `positions`."""
    return tf.gather(images, positions), tf.gather(labels, positions)


def on_cpu(array: np.ndarray) -> tf.Variable:
    """The array as a variable in host memory: tf.data functions capture a variable by reference instead of
    copying hundreds of megabytes of pixels into every function graph, as they would a constant."""
    with tf.device("/CPU:0"):
        return tf.Variable(array, trainable=False)


# Images whitened at a time when a split is whitened once: bounds the temporary memory.
_WHITEN_CHUNK = 4096


def whitened_once(images: np.ndarray, config: PipelineConfig) -> np.ndarray:
    """Every image center-cropped and whitened, once: what a fixed-window pipeline would compute every epoch.

    A grayscale image made RGB keeps its three equal channels: one would take a third of the memory, but
    copying it to three per batch slowed the MLPs' fit (docs/speed.md).
    """
    crop = _crop(config, images)

    def whiten() -> np.ndarray:
        with tf.device("/CPU:0"):
            whitened = np.concatenate(
                [
                    _to_rgb_and_whiten(
                        tf.image.resize_with_crop_or_pad(images[i : i + _WHITEN_CHUNK], crop, crop),
                        config.rgb,
                    ).numpy()
                    for i in range(0, max(len(images), 1), _WHITEN_CHUNK)
                ]
            )
        whitened.setflags(write=False)
        return whitened

    return _kept(("whitened", id(images), crop, bool(config.rgb)), whiten, keep=images)


def train_dataset(split: Split, config: PipelineConfig, epoch: tf.Variable) -> tf.data.Dataset:
    """Batches of (whitened images, labels) in the seeded order of the epoch `epoch` holds when iterated.

    Without random crop or augmentation every epoch shows the same pixels, so they are whitened once
    (corrupted once already, in prepare) and a batch is a gather: the input pipeline then costs the
    2-core machines this package is sized for little next to the train step.
    """
    n = len(split.labels)
    steps = -(-n // config.batch_size)
    crop = _crop(config, split.images)
    fixed = not (config.random_crop or config.augment)
    images = on_cpu(whitened_once(split.images, config) if fixed else split.images)
    labels = on_cpu(split.labels)
    shuffle_key, crop_key = _stream_key(config.train_seed, _SHUFFLE), _stream_key(config.train_seed, _CROP)
    augment_key = _stream_key(config.train_seed, _AUGMENT)

    def epoch_batches(_):
        e = tf.cast(epoch.read_value(), tf.int64)
        order = tf.argsort(
            tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(shuffle_key, tf.int64), e])), stable=True
        )
        # A batch's positions are a slice of the epoch's order, not stages of their own that batch scalars
        # and number the batches (the pipeline alone ran faster without them; docs/speed.md).
        positions = lambda step: order[step * config.batch_size : (step + 1) * config.batch_size]
        if fixed:  # just a gather: in this map, not a parallel stage of its own
            return tf.data.Dataset.range(steps).map(lambda step: gather_batch(images, labels, positions(step)))
        return tf.data.Dataset.range(steps).map(lambda step: (e, step, positions(step)))

    def transform(e, step, positions):
        x, y = gather_batch(images, labels, positions)
        if config.random_crop:
            x = _random_crop(x, crop, tf.stack([tf.constant(crop_key, tf.int64), e * 1_000_000 + step]))
        else:
            x = tf.image.resize_with_crop_or_pad(x, crop, crop)
        if config.augment:
            x = _flip_and_rotate(x, tf.stack([tf.constant(augment_key, tf.int64), e * 1_000_000 + step]))
        return _to_rgb_and_whiten(x, config.rgb), y

    batches = tf.data.Dataset.from_tensors(0).flat_map(epoch_batches)
    if not fixed:
        batches = batches.map(transform, num_parallel_calls=_PARALLEL_CALLS, deterministic=True)
    return _fixed_parallelism(batches.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(_PREFETCH_BATCHES))


def eval_dataset(split: Split, config: PipelineConfig) -> tf.data.Dataset:
    """Batches of center-cropped, whitened (images, labels) in canonical order (whitened once)."""
    whitened = whitened_once(split.images, config)
    images, labels = _kept(
        ("variables", id(whitened), id(split.labels)),
        lambda: (on_cpu(whitened), on_cpu(split.labels)),
        keep=(whitened, split.labels),
    )
    return _fixed_parallelism(
        tf.data.Dataset.range(len(split.labels))
        .batch(config.batch_size)
        .map(
            lambda positions: gather_batch(images, labels, positions),
            num_parallel_calls=_PARALLEL_CALLS,
            deterministic=True,
        )
        .prefetch(_PREFETCH_BATCHES)
    )


def _fixed_parallelism(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The dataset with tf.data's autotuner off, so _PARALLEL_CALLS and _PREFETCH_BATCHES hold."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
