"""Tests for rethink_tf.data.corrupt: the randomization tests of Section 2.1 (PAPER.md "Corruptions").

What a user relies on: the statistics of each corruption are the paper's, and the corruption of example i is a
pure function of (seed, split, i), whatever the execution mode, order, batching, sharding or subset.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf

from rethink_tf.data import corrupt

NUM_CLASSES = 10
N_LABELS = 20_000
H = W = 8


def _labels(n: int = N_LABELS, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, NUM_CLASSES, n).astype(np.int64)


def _corrupt_labels(labels: np.ndarray, p: float, seed: int = 0, split: int = corrupt.TRAIN) -> np.ndarray:
    """corrupt_split on 1x1x1 images: the cheapest way to corrupt many labels."""
    images = np.zeros((len(labels), 1, 1, 1), np.uint8)
    _, out = corrupt.corrupt_split(
        images,
        labels,
        np.arange(len(labels)),
        corruption="true_labels",
        label_noise=p,
        num_classes=NUM_CLASSES,
        seed=seed,
        split=split,
    )
    return out


@functools.lru_cache(maxsize=None)
def _corrupt_default_labels(p: float) -> np.ndarray:
    """_corrupt_labels(_labels(), p), computed once per p (read-only)."""
    out = _corrupt_labels(_labels(), p)
    out.setflags(write=False)
    return out


def _images(n: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, channels), dtype=np.uint8)


def _id_image() -> np.ndarray:
    """One 8x8x3 uint8 image whose values name their own (pixel, channel): value = 3 * pixel + channel."""
    return np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3)


def _sources(corrupted: np.ndarray) -> np.ndarray:
    """For a corrupted id image (pixels / 255, [H, W, 3]): the source pixel of each output pixel, checking that
    the three channels of every output pixel are the three channels, in order, of one source pixel."""
    ids = np.rint(np.asarray(corrupted) * 255).astype(np.int64).reshape(H * W, 3)
    src = ids[:, 0] // 3
    np.testing.assert_array_equal(
        ids, 3 * src[:, None] + np.arange(3), err_msg="channels of a pixel must move together"
    )
    return src


def _assert_bijection(perm: np.ndarray) -> None:
    np.testing.assert_array_equal(np.sort(perm), np.arange(H * W))


def _binomial_bound(n: int, q: float, sigmas: float = 5.0) -> float:
    """A tolerance on an observed fraction: `sigmas` binomial standard deviations (at least one count)."""
    return max(sigmas * np.sqrt(q * (1 - q) / n), 1.0 / n)


# ---------------------------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_label_corruption_changes_about_0_9p_of_labels(p):
    labels = _labels()
    out = _corrupt_default_labels(p)
    assert out.dtype == np.int64 and out.shape == labels.shape
    assert out.min() >= 0 and out.max() < NUM_CLASSES
    changed = np.mean(out != labels)
    expected = p * (NUM_CLASSES - 1) / NUM_CLASSES
    assert abs(changed - expected) <= _binomial_bound(N_LABELS, expected), (p, changed, expected)
    if p == 0.0:
        np.testing.assert_array_equal(out, labels)


def test_random_labels_are_uniform_and_independent_of_the_true_label():
    labels = _labels()
    out = _corrupt_default_labels(1.0)
    counts = np.bincount(out, minlength=NUM_CLASSES)
    expected = N_LABELS / NUM_CLASSES
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 40.0, (chi2, counts)  # 9 degrees of freedom: P(chi2 > 40) ~ 7e-6
    # The new class ignores the true one: each true class keeps its label 1/K of the time.
    for c in range(NUM_CLASSES):
        in_class = labels == c
        kept = np.mean(out[in_class] == c)
        assert abs(kept - 1 / NUM_CLASSES) <= _binomial_bound(int(in_class.sum()), 1 / NUM_CLASSES), (c, kept)


def test_partially_corrupted_labels_are_uniform_among_the_replaced():
    labels = np.zeros(N_LABELS, np.int64)  # all class 0: every non-zero output is a replacement
    out = _corrupt_labels(labels, 0.5)
    changed = out[out != 0]
    # replaced labels are uniform over all K classes, so the changed ones are uniform over the other K - 1
    counts = np.bincount(changed, minlength=NUM_CLASSES)[1:]
    expected = len(changed) / (NUM_CLASSES - 1)
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 37.0, (chi2, counts)  # 8 degrees of freedom: P(chi2 > 37) ~ 1e-5


def test_label_corruption_is_monotone_in_p():
    labels = _labels()
    low, high = _corrupt_default_labels(0.3), _corrupt_default_labels(0.6)
    changed_low, changed_high = low != labels, high != labels
    assert changed_low.sum() < changed_high.sum()
    assert not np.any(changed_low & ~changed_high), "labels changed at p=0.3 must be changed at p=0.6"
    # and changed to the same class: the coin and the new class are shared
    np.testing.assert_array_equal(low[changed_low], high[changed_low])


def test_label_corruption_depends_on_seed_and_split():
    labels = _labels(2000)
    base = _corrupt_labels(labels, 1.0, seed=0)
    np.testing.assert_array_equal(base, _corrupt_labels(labels, 1.0, seed=0))
    assert np.mean(base != _corrupt_labels(labels, 1.0, seed=1)) > 0.8
    assert np.mean(base != _corrupt_labels(labels, 1.0, seed=0, split=corrupt.TEST)) > 0.8


# ---------------------------------------------------------------------------------------------------------------
# Determinism: a pure function of (seed, split, index)
# ---------------------------------------------------------------------------------------------------------------

N_DET = 60


def _label_fn(seed=3, split=corrupt.TRAIN):
    return lambda label, index: corrupt.corrupt_label(
        label, index, p=0.5, num_classes=NUM_CLASSES, seed=seed, split=split
    )


def _image_fn(kind, seed=3, split=corrupt.TRAIN):
    mean, std = np.array([0.4, 0.5, 0.6], np.float32), np.array([0.1, 0.2, 0.3], np.float32)
    return lambda image, index: corrupt.corrupt_image(
        image, index, kind=kind, seed=seed, split=split, mean=mean, std=std
    )


def _det_data():
    labels = _labels(N_DET, seed=1)
    images = _images(N_DET, 3, seed=1).astype(np.float32) / 255.0
    return images, labels, np.arange(N_DET, dtype=np.int64)


def _eager(fn, xs, idx):
    return np.stack([fn(tf.constant(x), tf.constant(i)).numpy() for x, i in zip(xs, idx)])


def _shuffled_then_mapped(fn, xs, idx, batch):
    ds = (
        tf.data.Dataset.from_tensor_slices((xs, idx))
        .shuffle(len(xs), seed=7)
        .map(lambda x, i: (fn(x, i), i), num_parallel_calls=4, deterministic=False)
        .batch(batch)
    )
    out = {}
    for y, i in ds.as_numpy_iterator():
        out.update(zip(i.tolist(), y))
    return np.stack([out[i] for i in range(len(xs))])


def _sharded(fn, xs, idx, shards=3):
    out = {}
    for k in range(shards):
        ds = tf.data.Dataset.from_tensor_slices((xs, idx)).shard(shards, k).map(lambda x, i: (fn(x, i), i)).batch(5)
        for y, i in ds.as_numpy_iterator():
            out.update(zip(i.tolist(), y))
    return np.stack([out[i] for i in range(len(xs))])


@pytest.mark.parametrize("what", ["label", "shuffled_pixels", "random_pixels", "gaussian"])
def test_corruption_is_the_same_eagerly_in_tf_function_and_in_tf_data(what):
    images, labels, idx = _det_data()
    if what == "label":
        fn, xs, spec = _label_fn(), labels, tf.TensorSpec([], tf.int64)
    else:
        fn, xs, spec = _image_fn(what), images, tf.TensorSpec([H, W, 3], tf.float32)
    eager = _eager(fn, xs, idx)
    graph_fn = tf.function(fn, input_signature=[spec, tf.TensorSpec([], tf.int64)])
    np.testing.assert_array_equal(_eager(graph_fn, xs, idx), eager)
    for batch in (1, 7, 64):
        np.testing.assert_array_equal(_shuffled_then_mapped(fn, xs, idx, batch), eager, err_msg=f"batch {batch}")
    np.testing.assert_array_equal(_sharded(fn, xs, idx), eager)
    # a different seed changes the results
    other_fn = _label_fn(seed=4) if what == "label" else _image_fn(what, seed=4)
    assert np.mean(_eager(other_fn, xs, idx) != eager) > 0.3


@pytest.mark.parametrize(
    "corruption,noise",
    [("random_labels", 1.0), ("true_labels", 0.4), ("shuffled_pixels", 0.0), ("random_pixels", 0.5), ("gaussian", 0.0)],
)
def test_corrupt_split_of_a_subset_equals_rows_of_the_whole_split(corruption, noise):
    n = 300
    images, labels = _images(n, 3, seed=2), _labels(n, seed=2)
    mean, std = corrupt.pixel_stats(images, "per_channel")
    kw = dict(
        corruption=corruption,
        label_noise=noise,
        num_classes=NUM_CLASSES,
        seed=5,
        split=corrupt.TRAIN,
        mean=mean,
        std=std,
    )
    all_x, all_y = corrupt.corrupt_split(images, labels, np.arange(n), **kw)
    subset = np.sort(np.random.default_rng(3).choice(n, 77, replace=False))
    sub_x, sub_y = corrupt.corrupt_split(images[subset], labels[subset], subset, **kw)
    np.testing.assert_array_equal(sub_x, all_x[subset])
    np.testing.assert_array_equal(sub_y, all_y[subset])
    # the order of the rows given does not matter either, only their canonical indices
    rev = subset[::-1]
    rev_x, rev_y = corrupt.corrupt_split(images[rev], labels[rev], rev, **kw)
    np.testing.assert_array_equal(rev_x, all_x[rev])
    np.testing.assert_array_equal(rev_y, all_y[rev])
    # a different seed changes what is corrupted
    seed_x, seed_y = corrupt.corrupt_split(images, labels, np.arange(n), **{**kw, "seed": 6})
    if noise > 0:
        assert np.mean(seed_y != all_y) > 0.2
    if corruption in corrupt.INPUT_CORRUPTIONS:
        assert not np.array_equal(seed_x, all_x)


# ---------------------------------------------------------------------------------------------------------------
# Pixel permutations
# ---------------------------------------------------------------------------------------------------------------


def _permutations(kind: str, n: int, split: int, seed: int = 0) -> np.ndarray:
    """The source pixel of each output pixel, for n id images at canonical indices 0..n-1 of `split`."""
    ids = np.repeat(_id_image()[None], n, axis=0)
    out, _ = corrupt.corrupt_split(
        ids,
        np.zeros(n, np.int64),
        np.arange(n),
        corruption=kind,
        label_noise=0.0,
        num_classes=NUM_CLASSES,
        seed=seed,
        split=split,
    )
    return np.stack([_sources(x) for x in out])


def _apply(images: np.ndarray, perm: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), H * W, -1)
    return flat[:, perm].reshape(images.shape)


def test_shuffled_pixels_is_one_bijection_for_every_image_of_both_splits():
    train, test = (
        _permutations("shuffled_pixels", 20, corrupt.TRAIN),
        _permutations("shuffled_pixels", 20, corrupt.TEST),
    )
    perm = train[0]
    _assert_bijection(perm)
    assert not np.array_equal(perm, np.arange(H * W)), "the permutation must move pixels"
    np.testing.assert_array_equal(train, np.broadcast_to(perm, train.shape))
    np.testing.assert_array_equal(test, np.broadcast_to(perm, test.shape))
    # on real images, of 1 and 3 channels: the same gather, so each image keeps its multiset of pixels
    for channels in (1, 3):
        images = _images(30, channels, seed=channels)
        for split in (corrupt.TRAIN, corrupt.TEST):
            out, _ = corrupt.corrupt_split(
                images,
                np.zeros(30, np.int64),
                np.arange(30),
                corruption="shuffled_pixels",
                label_noise=0.0,
                num_classes=NUM_CLASSES,
                seed=0,
                split=split,
            )
            np.testing.assert_array_equal(out, _apply(images.astype(np.float32) / 255.0, perm))
    # another seed, another permutation
    assert not np.array_equal(_permutations("shuffled_pixels", 1, corrupt.TRAIN, seed=1)[0], perm)


def test_random_pixels_is_a_different_bijection_per_image_and_split():
    n = 40
    train, test = _permutations("random_pixels", n, corrupt.TRAIN), _permutations("random_pixels", n, corrupt.TEST)
    for perm in np.concatenate([train, test]):
        _assert_bijection(perm)
    assert len({p.tobytes() for p in train}) == n, "every training image needs its own permutation"
    assert all(not np.array_equal(a, b) for a, b in zip(train, test)), "train and test index i must differ"
    # on real images: each output is its source image under its own permutation
    images = _images(n, 3, seed=4)
    out, _ = corrupt.corrupt_split(
        images,
        np.zeros(n, np.int64),
        np.arange(n),
        corruption="random_pixels",
        label_noise=0.0,
        num_classes=NUM_CLASSES,
        seed=0,
        split=corrupt.TRAIN,
    )
    x = images.astype(np.float32) / 255.0
    for i in range(n):
        np.testing.assert_array_equal(out[i], _apply(x[i : i + 1], train[i])[0])
        # sorted multiset of whole pixels preserved
        before = np.unique(x[i].reshape(-1, 3), axis=0, return_counts=True)
        after = np.unique(out[i].reshape(-1, 3), axis=0, return_counts=True)
        np.testing.assert_array_equal(before[0], after[0])
        np.testing.assert_array_equal(before[1], after[1])


# ---------------------------------------------------------------------------------------------------------------
# Gaussian
# ---------------------------------------------------------------------------------------------------------------


def _skewed_images(n: int) -> np.ndarray:
    """Channels with clearly different statistics, so global and per-channel stats differ."""
    rng = np.random.default_rng(9)
    lows, highs = np.array([0, 100, 30]), np.array([60, 256, 90])
    return rng.integers(lows, highs, (n, H, W, 3)).astype(np.uint8)


@pytest.mark.parametrize("mode", ["global", "per_channel"])
def test_gaussian_matches_the_data_mean_and_variance(mode):
    n = 1500
    images = _skewed_images(n)
    mean, std = corrupt.pixel_stats(images, mode)
    assert mean.shape == std.shape == (3,) and mean.dtype == std.dtype == np.float32
    # Counted from the pixel values' histogram: numpy's float64 mean and std of the pixels, to the float32 bit.
    x = images.astype(np.float64) / 255.0
    axes = None if mode == "global" else (0, 1, 2)
    np.testing.assert_array_equal(mean, np.broadcast_to(x.mean(axis=axes), (3,)).astype(np.float32))
    np.testing.assert_array_equal(std, np.broadcast_to(x.std(axis=axes), (3,)).astype(np.float32))

    out, labels = corrupt.corrupt_split(
        images,
        np.zeros(n, np.int64),
        np.arange(n),
        corruption="gaussian",
        label_noise=0.0,
        num_classes=NUM_CLASSES,
        seed=0,
        split=corrupt.TRAIN,
        mean=mean,
        std=std,
    )
    assert out.dtype == np.float32 and out.shape == images.shape
    np.testing.assert_array_equal(labels, 0)
    y = out.astype(np.float64)
    # pixels / 255 scale: the mean is the data's, not 0 and not ~100
    assert abs(y.mean() - x.mean()) < 0.005
    assert abs(y.var() / x.var() - 1) < 0.03
    if mode == "per_channel":
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), x.mean(axis=(0, 1, 2)), atol=0.005)
        np.testing.assert_allclose(y.var(axis=(0, 1, 2)) / x.var(axis=(0, 1, 2)), 1.0, atol=0.03)
    else:  # one pair for all channels: every channel has the global statistics
        np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), x.mean(), atol=0.005)
        np.testing.assert_allclose(y.var(axis=(0, 1, 2)) / x.var(), 1.0, atol=0.03)
    # independent pixels: no trace of the source image
    for c in range(3):
        assert abs(np.corrcoef(y[..., c].ravel(), x[..., c].ravel())[0, 1]) < 0.02
    # train and test draw different noise for the same index
    test_out, _ = corrupt.corrupt_split(
        images[:5],
        np.zeros(5, np.int64),
        np.arange(5),
        corruption="gaussian",
        label_noise=0.0,
        num_classes=NUM_CLASSES,
        seed=0,
        split=corrupt.TEST,
        mean=mean,
        std=std,
    )
    assert not np.any(test_out == out[:5])


def test_corrupt_image_rejects_a_label_corruption():
    with pytest.raises(ValueError, match="not an input corruption"):
        corrupt.corrupt_image(np.zeros((H, W, 1), np.float32), 0, kind="random_labels", seed=0)


# ---------------------------------------------------------------------------------------------------------------
# corrupt_split's contract
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_true_labels_is_exactly_pixels_over_255_with_int64_labels(channels):
    n = 50
    images = _images(n, channels, seed=11)
    images[0] = 0
    images[1] = 255
    labels = _labels(n, seed=11).astype(np.uint8)  # any integer dtype in, int64 out
    out_x, out_y = corrupt.corrupt_split(
        images,
        labels,
        np.arange(n),
        corruption="true_labels",
        label_noise=0.0,
        num_classes=NUM_CLASSES,
        seed=0,
        split=corrupt.TRAIN,
    )
    assert out_x.dtype == np.float32 and out_x.shape == images.shape
    assert out_y.dtype == np.int64 and out_y.shape == (n,)
    np.testing.assert_array_equal(out_x, images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(out_y, labels.astype(np.int64))
    assert out_x.min() == 0.0 and out_x.max() == 1.0


@pytest.mark.parametrize(
    "corruption,noise",
    [("true_labels", 0.0), ("random_labels", 1.0), ("shuffled_pixels", 0.0), ("random_pixels", 0.0), ("gaussian", 0.0)],
)
def test_corrupt_split_handles_an_empty_split(corruption, noise):
    images = np.zeros((0, H, W, 3), np.uint8)
    out_x, out_y = corrupt.corrupt_split(
        images,
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        corruption=corruption,
        label_noise=noise,
        num_classes=NUM_CLASSES,
        seed=0,
        split=corrupt.TRAIN,
        mean=np.full(3, 0.5, np.float32),
        std=np.full(3, 0.2, np.float32),
    )
    assert out_x.shape == (0, H, W, 3) and out_x.dtype == np.float32
    assert out_y.shape == (0,) and out_y.dtype == np.int64
