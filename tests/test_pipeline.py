"""Tests for rethink_tf.data.pipeline: stratified subsets, prepare() on in-memory data, and the train/eval datasets.

No file is read: prepare() gets a sources.RawData built here.
"""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from rethink_tf.config import ConfigError, RunConfig
from rethink_tf.data import pipeline, sources

NUM_CLASSES = 10
H = W = 8
CROP = 6


def _raw(n_train: int = 2000, n_test: int = 300, channels: int = 1, seed: int = 0) -> sources.RawData:
    rng = np.random.default_rng(seed)

    def split(n):
        return sources.RawSplit(
            images=rng.integers(0, 256, (n, H, W, channels), dtype=np.uint8),
            labels=rng.integers(0, NUM_CLASSES, n).astype(np.int64),
        )

    return sources.RawData(
        name="fashion_mnist",
        train=split(n_train),
        test=split(n_test),
        num_classes=NUM_CLASSES,
        origin="in-memory test data",
    )


def _config(**kw) -> RunConfig:
    base = dict(crop_size=CROP, batch_size=16, rgb=True, seed=0, idx_dir="/nonexistent", data_dir="/nonexistent")
    return RunConfig(**{**base, **kw})


# ---------------------------------------------------------------------------------------------------------------
# stratified_subset
# ---------------------------------------------------------------------------------------------------------------


def _label_sets():
    rng = np.random.default_rng(1)
    return {
        "uniform": rng.integers(0, NUM_CLASSES, 500),
        "imbalanced": rng.choice(NUM_CLASSES, 500, p=np.arange(1, NUM_CLASSES + 1) / 55),
        # the Alabama paradox of largest remainders: sizes 10 -> 11 take a seat away from class 2
        "alabama": rng.permutation(np.repeat([0, 1, 2], [6, 6, 2])),
        "missing_classes": rng.choice([2, 5, 7], 200, p=[0.7, 0.2, 0.1]),
    }


@pytest.mark.parametrize("name", list(_label_sets()))
def test_stratified_subset_size_proportions_order_and_nesting(name):
    labels = _label_sets()[name]
    n = len(labels)
    classes, counts = np.unique(labels, return_counts=True)
    probes = (1, 2, 3, 7, 10, 11, 33, 49, 50, 51, 100, 123, 199, 250, 251, 499)
    sizes = range(1, n) if n <= 20 else [s for s in probes if s < n]
    previous = set()
    for size in sizes:
        idx = pipeline.stratified_subset(labels, size, seed=3)
        assert len(idx) == size
        assert idx.dtype.kind == "i"
        assert np.all(np.diff(idx) > 0), "indices must be sorted and unique"
        assert idx.min() >= 0 and idx.max() < n
        got = np.array([np.sum(labels[idx] == c) for c in classes])
        exact = size * counts / n
        assert np.all(np.abs(got - exact) < 1), (size, got, exact)
        assert previous <= set(idx.tolist()), f"subset of size {size} must contain the smaller ones"
        previous = set(idx.tolist())
        np.testing.assert_array_equal(idx, pipeline.stratified_subset(labels, size, seed=3))


def test_stratified_subset_nesting_at_every_size():
    labels = _label_sets()["imbalanced"][:120]
    previous = set()
    for size in range(1, len(labels) + 1):
        current = set(pipeline.stratified_subset(labels, size, seed=0).tolist())
        assert previous <= current and len(current) == size, size
        previous = current


def test_stratified_subset_seed_and_whole_split():
    labels = _label_sets()["uniform"]
    a, b = pipeline.stratified_subset(labels, 100, seed=0), pipeline.stratified_subset(labels, 100, seed=1)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(pipeline.stratified_subset(labels, 0, seed=0), np.arange(len(labels)))
    np.testing.assert_array_equal(pipeline.stratified_subset(labels, len(labels), seed=5), np.arange(len(labels)))


# ---------------------------------------------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw():
    return _raw()


def test_prepare_true_labels_is_the_source(raw):
    data = pipeline.prepare(_config(), raw=raw)
    assert data.num_classes == NUM_CLASSES and data.origin == raw.origin
    assert data.input_shape == (CROP, CROP, 3)
    assert pipeline.prepare(_config(rgb=False), raw=raw).input_shape == (CROP, CROP, 1)
    for split, src in ((data.train, raw.train), (data.test, raw.test)):
        np.testing.assert_array_equal(split.indices, np.arange(len(src.labels)))
        np.testing.assert_array_equal(split.labels, src.labels)
        assert split.labels.dtype == np.int64 and split.images.dtype == np.float32
        np.testing.assert_array_equal(split.images, src.images.astype(np.float32) / np.float32(255))
    assert data.labels_changed == 0.0


def test_prepare_fingerprints_are_stable_and_track_the_config(raw):
    config = _config(corruption="random_labels")
    a, b = pipeline.prepare(config, raw=raw), pipeline.prepare(config, raw=raw)
    assert a.fingerprints == b.fingerprints
    assert set(a.fingerprints) >= {
        "source",
        "train_indices",
        "train_labels",
        "train_images",
        "test_labels",
        "test_images",
    }
    np.testing.assert_array_equal(a.train.labels, b.train.labels)

    other_seed = pipeline.prepare(dataclasses.replace(config, seed=1), raw=raw)
    assert other_seed.fingerprints["train_labels"] != a.fingerprints["train_labels"]
    assert other_seed.fingerprints["source"] == a.fingerprints["source"]

    clean = pipeline.prepare(_config(), raw=raw)
    assert clean.fingerprints["train_labels"] != a.fingerprints["train_labels"]
    assert clean.fingerprints["train_images"] == a.fingerprints["train_images"]
    shuffled = pipeline.prepare(_config(corruption="shuffled_pixels"), raw=raw)
    assert shuffled.fingerprints["train_images"] != clean.fingerprints["train_images"]
    assert shuffled.fingerprints["train_labels"] == clean.fingerprints["train_labels"]

    subset = pipeline.prepare(_config(train_size=500), raw=raw)
    assert subset.fingerprints["train_indices"] != clean.fingerprints["train_indices"]
    # the fingerprint covers the bytes: it changes with the source data
    assert pipeline.prepare(config, raw=_raw(seed=1)).fingerprints["source"] != a.fingerprints["source"]


def test_prepare_random_labels_and_clean_test_labels(raw):
    data = pipeline.prepare(_config(corruption="random_labels"), raw=raw)
    n = len(raw.train.labels)
    assert abs(data.labels_changed - 0.9) <= 5 * np.sqrt(0.09 / n)
    assert data.labels_changed == np.mean(data.train.labels != raw.train.labels)
    np.testing.assert_array_equal(data.test.labels, raw.test.labels)
    np.testing.assert_array_equal(data.train.images, raw.train.images.astype(np.float32) / np.float32(255))

    dirty = pipeline.prepare(_config(corruption="random_labels", corrupt_test_labels=True), raw=raw)
    np.testing.assert_array_equal(dirty.train.labels, data.train.labels)
    assert abs(np.mean(dirty.test.labels != raw.test.labels) - 0.9) <= 5 * np.sqrt(0.09 / len(raw.test.labels))

    partial = pipeline.prepare(_config(corrupt=0.4), raw=raw)
    assert abs(partial.labels_changed - 0.36) <= 5 * np.sqrt(0.36 * 0.64 / n)
    np.testing.assert_array_equal(partial.test.labels, raw.test.labels)


def test_prepare_random_signs_are_bits_on_both_splits_keyed_by_index(raw):
    data = pipeline.prepare(_config(corruption="random_signs"), raw=raw)
    assert data.num_classes == 2
    for split in (data.train, data.test):
        assert set(np.unique(split.labels)) == {0, 1} and abs(split.labels.mean() - 0.5) < 0.1
    sub = pipeline.prepare(_config(corruption="random_signs", train_size=500), raw=raw)
    np.testing.assert_array_equal(sub.train.labels, data.train.labels[sub.train.indices])
    np.testing.assert_array_equal(sub.train.images, data.train.images[sub.train.indices])
    other = pipeline.prepare(_config(corruption="random_signs", seed=1), raw=raw)
    assert np.mean(other.train.labels != data.train.labels) > 0.3
    with pytest.raises(ConfigError, match="--corrupt"):
        _config(corruption="random_signs", corrupt=0.5).validate()


def test_prepare_subsets_by_canonical_index(raw):
    data = pipeline.prepare(_config(corruption="random_labels", train_size=500, test_size=100), raw=raw)
    np.testing.assert_array_equal(data.train.indices, pipeline.stratified_subset(raw.train.labels, 500, 0))
    np.testing.assert_array_equal(data.test.indices, pipeline.stratified_subset(raw.test.labels, 100, 1))
    assert len(data.train.labels) == 500 and len(data.test.labels) == 100
    # the subset's corrupted labels are those of the whole split at the same canonical indices
    full = pipeline.prepare(_config(corruption="random_labels"), raw=raw)
    np.testing.assert_array_equal(data.train.labels, full.train.labels[data.train.indices])
    assert data.labels_changed == np.mean(data.train.labels != raw.train.labels[data.train.indices])


def test_prepare_shuffled_pixels_corrupts_test_images_with_the_same_permutation(raw):
    data = pipeline.prepare(_config(corruption="shuffled_pixels"), raw=raw)
    np.testing.assert_array_equal(data.test.labels, raw.test.labels)
    np.testing.assert_array_equal(data.train.labels, raw.train.labels)
    assert data.labels_changed == 0.0
    flat = {name: getattr(raw, name).images.reshape(-1, H * W) for name in ("train", "test")}
    out = {
        name: np.rint(getattr(data, name).images.reshape(-1, H * W) * 255).astype(np.int64)
        for name in ("train", "test")
    }
    assert not np.array_equal(out["test"], flat["test"]), "test images must be shuffled too"
    # find the permutation from a few train images with distinct pixels and check it on everything
    perm = np.empty(H * W, np.int64)
    for j in range(H * W):
        candidates = set(range(H * W))
        for i in range(5):
            candidates &= set(np.flatnonzero(flat["train"][i] == out["train"][i, j]).tolist())
        assert len(candidates) == 1
        perm[j] = candidates.pop()
    np.testing.assert_array_equal(np.sort(perm), np.arange(H * W))
    for name in ("train", "test"):
        np.testing.assert_array_equal(out[name], flat[name][:, perm])


@pytest.mark.parametrize("corruption", ["random_pixels", "gaussian"])
def test_prepare_input_corruptions_reach_test_images(raw, corruption):
    data = pipeline.prepare(_config(corruption=corruption), raw=raw)
    for name in ("train", "test"):
        src = getattr(raw, name).images.astype(np.float32) / 255
        assert np.mean(getattr(data, name).images != src) > 0.5
        np.testing.assert_array_equal(getattr(data, name).labels, getattr(raw, name).labels)


# ---------------------------------------------------------------------------------------------------------------
# train_dataset / eval_dataset
# ---------------------------------------------------------------------------------------------------------------

N_DS = 50  # 16 + 16 + 16 + 2: the last batch is partial


@pytest.fixture(scope="module")
def id_split():
    """A split whose labels are the example ids, so batches say which examples they hold."""
    rng = np.random.default_rng(4)
    images = rng.uniform(0.0, 1.0, (N_DS, H, W, 1)).astype(np.float32)
    return pipeline.Split(images=images, labels=np.arange(N_DS, dtype=np.int64), indices=np.arange(N_DS))


def _epoch(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return xs, ys


def _whiten(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return (x - x.mean()) / max(x.std(), 1 / np.sqrt(x.size))


def _center(image: np.ndarray) -> np.ndarray:
    top, left = (H - CROP) // 2, (W - CROP) // 2
    return image[top : top + CROP, left : left + CROP]


def _assert_whitened_rgb(x: np.ndarray) -> None:
    assert x.shape[1:] == (CROP, CROP, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], x[..., 1])
    np.testing.assert_array_equal(x[..., 0], x[..., 2])
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(1, 2, 3)), 1.0, atol=1e-3)


def test_train_dataset_epochs_are_permutations_and_resume(id_split):
    config = _config()
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    ds = pipeline.train_dataset(id_split, config, epoch)
    assert int(ds.cardinality()) == 4
    orders = {}
    for e in (0, 1, 2):
        epoch.assign(e)
        xs, ys = _epoch(ds)
        assert [len(y) for y in ys] == [16, 16, 16, 2]
        order = np.concatenate(ys)
        assert sorted(order.tolist()) == list(range(N_DS)), "one epoch yields every example exactly once"
        for x, y in zip(xs, ys):
            _assert_whitened_rgb(x)
            for xi, yi in zip(x, y):  # center crop of that very example
                np.testing.assert_allclose(xi[..., 0], _whiten(_center(id_split.images[yi, ..., 0])), atol=1e-5)
        orders[e] = order
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    assert not np.array_equal(orders[0], np.arange(N_DS))
    # resume: the same epoch number gives the same order, on this dataset and on one built afresh
    epoch.assign(1)
    np.testing.assert_array_equal(np.concatenate(_epoch(ds)[1]), orders[1])
    fresh_epoch = tf.Variable(1, dtype=tf.int64, trainable=False)
    np.testing.assert_array_equal(
        np.concatenate(_epoch(pipeline.train_dataset(id_split, config, fresh_epoch))[1]), orders[1]
    )
    # the order is the seed's
    other = pipeline.train_dataset(id_split, _config(seed=1), fresh_epoch)
    assert not np.array_equal(np.concatenate(_epoch(other)[1]), orders[1])


def _crop_offset(output: np.ndarray, source: np.ndarray) -> tuple[int, int]:
    """The (top, left) of the window of the zero-padded source that `output` (whitened, 1 channel) is."""
    pad = (CROP + 4 - H) // 2
    padded = np.pad(source, pad)
    hits = [
        (t, l)
        for t in range(padded.shape[0] - CROP + 1)
        for l in range(padded.shape[1] - CROP + 1)
        if np.allclose(output, _whiten(padded[t : t + CROP, l : l + CROP]), atol=1e-5)
    ]
    assert len(hits) == 1, f"not a crop of the padded source: {hits}"
    return hits[0]


def test_random_crop_windows_are_genuine_and_vary(id_split):
    config = _config(random_crop=True)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    ds = pipeline.train_dataset(id_split, config, epoch)
    center = ((CROP + 4 - H) // 2 + (H - CROP) // 2,) * 2
    offsets = {}
    for e in (0, 1):
        epoch.assign(e)
        xs, ys = _epoch(ds)
        assert sorted(np.concatenate(ys).tolist()) == list(range(N_DS))
        offsets[e] = {}
        for x, y in zip(xs, ys):
            _assert_whitened_rgb(x)
            for xi, yi in zip(x, y):
                offsets[e][int(yi)] = _crop_offset(xi[..., 0], id_split.images[yi, ..., 0])
    seen = set(offsets[0].values()) | set(offsets[1].values())
    assert len(seen) >= 10, seen  # 25 possible windows, 100 draws
    assert sum(o != center for o in offsets[0].values()) > N_DS // 2
    # every window of the padded image is reachable, including those reaching into the zero padding
    span = set(range(CROP + 4 - CROP + 1))
    assert {t for t, _ in seen} == span and {l for _, l in seen} == span, seen
    assert offsets[0] != offsets[1], "crops are redrawn every epoch"
    # resume: the same crops for the same epoch
    epoch.assign(0)
    xs_again, ys_again = _epoch(ds)
    epoch.assign(0)
    fresh = pipeline.train_dataset(id_split, config, tf.Variable(0, dtype=tf.int64))
    for a, b in zip(_epoch(fresh), (xs_again, ys_again)):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    for x, y in zip(xs_again, ys_again):
        for xi, yi in zip(x, y):
            assert _crop_offset(xi[..., 0], id_split.images[yi, ..., 0]) == offsets[0][int(yi)]


def test_random_crop_of_a_large_image_is_unpadded():
    # a source 4 pixels larger than the crop (CIFAR-10: 32 -> 28) is cropped without padding
    rng = np.random.default_rng(6)
    images = rng.uniform(0, 1, (20, CROP + 4, CROP + 4, 3)).astype(np.float32)
    split = pipeline.Split(images=images, labels=np.arange(20, dtype=np.int64), indices=np.arange(20))
    ds = pipeline.train_dataset(split, _config(random_crop=True, batch_size=20), tf.Variable(0, dtype=tf.int64))
    (x,), (y,) = _epoch(ds)
    for xi, yi in zip(x, y):
        src = images[yi]
        hits = [
            (t, l)
            for t in range(5)
            for l in range(5)
            if np.allclose(xi, _whiten(src[t : t + CROP, l : l + CROP]), atol=1e-5)
        ]
        assert len(hits) == 1


def test_eval_dataset_is_canonical_and_center_cropped(id_split):
    config = _config(batch_size=16)
    xs, ys = _epoch(pipeline.eval_dataset(id_split, config))
    np.testing.assert_array_equal(np.concatenate(ys), np.arange(N_DS))
    x = np.concatenate(xs)
    _assert_whitened_rgb(x)
    for xi, yi in zip(x, np.concatenate(ys)):
        np.testing.assert_allclose(xi[..., 0], _whiten(_center(id_split.images[yi, ..., 0])), atol=1e-5)
    # the same twice
    again = np.concatenate(_epoch(pipeline.eval_dataset(id_split, config))[0])
    np.testing.assert_array_equal(again, x)
    # without rgb a 1-channel input stays 1 channel
    gray = next(iter(pipeline.eval_dataset(id_split, _config(rgb=False))))[0].numpy()
    assert gray.shape == (16, CROP, CROP, 1)


def test_end_to_end_prepare_then_datasets(raw):
    config = _config(corruption="random_labels", train_size=200, test_size=40, batch_size=32)
    data = pipeline.prepare(config, raw=raw)
    epoch = tf.Variable(3, dtype=tf.int64)
    train_labels = np.concatenate([y.numpy() for _, y in pipeline.train_dataset(data.train, config, epoch)])
    assert np.array_equal(np.sort(train_labels), np.sort(data.train.labels))
    test_x, test_y = zip(*[(x.numpy(), y.numpy()) for x, y in pipeline.eval_dataset(data.test, config)])
    np.testing.assert_array_equal(np.concatenate(test_y), data.test.labels)
    assert np.concatenate(test_x).shape == (40,) + data.input_shape


def test_augment_flips_half_and_rotates_within_25_degrees():
    # One bright dot right of the center of a 21x21 image: after the augmentation it sits at the same distance
    # from the center, on the left for about half the images (the flip), within 25 degrees of where it was.
    n, size, r = 400, 21, 6
    images = np.zeros((n, size, size, 1), np.float32)
    images[:, size // 2, size // 2 + r] = 1.0
    out = pipeline._flip_and_rotate(tf.constant(images), tf.constant([7, 3], tf.int64)).numpy()[..., 0]
    ys, xs = np.mgrid[:size, :size] - size // 2
    mass = out.sum(axis=(1, 2))
    cy, cx = (out * ys).sum(axis=(1, 2)) / mass, (out * xs).sum(axis=(1, 2)) / mass
    np.testing.assert_allclose(np.hypot(cy, cx), r, atol=0.35)
    flipped = cx < 0
    assert 0.4 < flipped.mean() < 0.6
    angles = np.degrees(np.arctan2(cy, np.where(flipped, -cx, cx)))
    assert np.abs(angles).max() <= 25.5 and np.abs(angles).max() > 20 and angles.std() > 10
    again = pipeline._flip_and_rotate(tf.constant(images), tf.constant([7, 3], tf.int64)).numpy()[..., 0]
    other = pipeline._flip_and_rotate(tf.constant(images), tf.constant([7, 4], tf.int64)).numpy()[..., 0]
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, other)


def test_augmented_epochs_are_redrawn_and_repeatable(id_split):
    def by_id(ds):
        xs, ys = _epoch(ds)
        return {int(y): x for xb, yb in zip(xs, ys) for x, y in zip(xb, yb)}

    config = _config(augment=True)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    ds = pipeline.train_dataset(id_split, config, epoch)
    first = by_id(ds)
    epoch.assign(1)
    second = by_id(ds)
    epoch.assign(0)
    again = by_id(pipeline.train_dataset(id_split, config, epoch))
    plain = by_id(pipeline.train_dataset(id_split, _config(), tf.Variable(0, dtype=tf.int64)))
    assert all(np.array_equal(first[i], again[i]) for i in range(N_DS))
    assert sum(not np.allclose(first[i], second[i]) for i in range(N_DS)) > N_DS * 0.9
    assert sum(not np.allclose(first[i], plain[i]) for i in range(N_DS)) > N_DS * 0.9
