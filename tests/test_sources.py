"""Tests for rethink_tf.data.sources: exact round trips through the real file formats and precise DataErrors."""

import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from rethink_tf.data import idx_source, sources, tfds_source
from rethink_tf.data.sources import DataError

N_TRAIN, N_TEST = 12, 7


# ---------------------------------------------------------------------------------------------------------------
# IDX helpers
# ---------------------------------------------------------------------------------------------------------------


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write(path, payload: bytes, gz: bool) -> str:
    path = str(path) + (".gz" if gz else "")
    with open(path, "wb") as f:
        f.write(gzip.compress(payload) if gz else payload)
    return path


def _fake_fashion(seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }


@pytest.fixture
def no_tfds(monkeypatch):
    """Fails the test if load() falls back to tfds, which it must not do when idx_dir exists."""

    def forbidden(*args, **kwargs):
        raise AssertionError("unexpected tfds fallback")

    monkeypatch.setattr(tfds_source, "read", forbidden)


@pytest.fixture
def idx_dir(tmp_path):
    """A directory with the four Fashion-MNIST files (gzipped) and the arrays written to them."""
    arrays = _fake_fashion()
    paths = {base: _write(tmp_path / base, _idx_bytes(a), gz=True) for base, a in arrays.items()}
    return str(tmp_path), arrays, paths


# ---------------------------------------------------------------------------------------------------------------
# IDX / fashion_mnist
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_fashion_mnist_idx_round_trip(tmp_path, no_tfds, gz):
    arrays = _fake_fashion()
    paths = [_write(tmp_path / base, _idx_bytes(a), gz=gz) for base, a in arrays.items()]

    raw = sources.load("fashion_mnist", idx_dir=str(tmp_path))

    assert raw.name == "fashion_mnist" and raw.num_classes == 10
    for split, prefix in ((raw.train, "train"), (raw.test, "t10k")):
        assert split.images.dtype == np.uint8 and split.labels.dtype == np.int64
        np.testing.assert_array_equal(split.images, arrays[f"{prefix}-images-idx3-ubyte"][..., None])
        np.testing.assert_array_equal(split.labels, arrays[f"{prefix}-labels-idx1-ubyte"])
    assert raw.train.images.shape == (N_TRAIN, 28, 28, 1) and raw.test.images.shape == (N_TEST, 28, 28, 1)
    for path in paths:
        assert path in raw.origin


def test_read_idx_generic_dims_and_writable(tmp_path):
    array = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    path = _write(tmp_path / "x-idx4", _idx_bytes(array), gz=False)
    out = sources.read_idx(path)
    np.testing.assert_array_equal(out, array)
    assert out.dtype == np.uint8 and out.flags.writeable


def test_a_data_set_is_read_once_per_process_and_again_when_a_file_changes(idx_dir, no_tfds, monkeypatch):
    directory, arrays, paths = idx_dir
    reads = []
    read_idx = idx_source.read_idx
    monkeypatch.setattr(idx_source, "read_idx", lambda path: reads.append(path) or read_idx(path))
    first = sources.load("fashion_mnist", idx_dir=directory)
    second = sources.load("fashion_mnist", idx_dir=directory)
    assert len(reads) == 4 and second is first  # one read; the same data, fingerprinted once
    assert not first.train.images.flags.writeable and not first.test.labels.flags.writeable  # shared: read-only
    fresh = _fake_fashion(seed=1)["t10k-labels-idx1-ubyte"]
    os.replace(_write(os.path.join(directory, "new"), _idx_bytes(fresh), gz=True), paths["t10k-labels-idx1-ubyte"])
    third = sources.load("fashion_mnist", idx_dir=directory)
    assert len(reads) == 8 and third.fingerprint != first.fingerprint
    np.testing.assert_array_equal(third.test.labels, fresh)


def test_gz_preferred_over_plain(tmp_path, no_tfds):
    arrays = _fake_fashion()
    for base, a in arrays.items():
        _write(tmp_path / base, _idx_bytes(a), gz=True)
    _write(tmp_path / "train-labels-idx1-ubyte", b"stale", gz=False)
    raw = sources.load("fashion_mnist", idx_dir=str(tmp_path))
    np.testing.assert_array_equal(raw.train.labels, arrays["train-labels-idx1-ubyte"])


def _corrupt_truncated_data(path):
    with open(path, "wb") as f:  # valid gzip of a valid header whose data is 5 bytes short
        f.write(gzip.compress(_idx_bytes(np.zeros((N_TRAIN, 28, 28), np.uint8))[:-5]))


def _corrupt_truncated_gzip(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def _corrupt_magic(path):  # int32 data type (0x0C) instead of unsigned bytes
    payload = bytearray(_idx_bytes(np.zeros((N_TRAIN, 28, 28), np.uint8)))
    payload[2] = 0x0C
    with open(path, "wb") as f:
        f.write(gzip.compress(bytes(payload)))


def _corrupt_not_idx(path):
    with open(path, "wb") as f:
        f.write(gzip.compress(b"<html>404 Not Found</html>"))


def _corrupt_trailing(path):
    with open(path, "wb") as f:
        f.write(gzip.compress(_idx_bytes(np.zeros((N_TRAIN, 28, 28), np.uint8)) + b"\0\0"))


def _corrupt_missing(path):
    os.remove(path)


@pytest.mark.parametrize(
    "corrupt, problem",
    [
        (_corrupt_truncated_data, "truncated"),
        (_corrupt_truncated_gzip, "gzip"),
        (_corrupt_magic, "0x0c"),
        (_corrupt_not_idx, "not an IDX file"),
        (_corrupt_trailing, "trailing"),
        (_corrupt_missing, "not found"),
    ],
)
def test_bad_idx_file_names_the_file(idx_dir, no_tfds, corrupt, problem):
    directory, _, paths = idx_dir
    bad = paths["train-images-idx3-ubyte"]
    corrupt(bad)
    with pytest.raises(DataError) as excinfo:
        sources.load("fashion_mnist", idx_dir=directory)
    message = str(excinfo.value)
    assert bad in message and problem in message and "Fix:" in message


@pytest.mark.parametrize("base", ["train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"])
def test_missing_file_never_falls_back_to_tfds(idx_dir, no_tfds, base):
    directory, _, paths = idx_dir
    os.remove(paths[base])
    with pytest.raises(DataError, match=f"{base}.gz: file not found"):
        sources.load("fashion_mnist", idx_dir=directory)


def test_mismatched_counts(idx_dir, no_tfds):
    directory, arrays, paths = idx_dir
    labels = paths["t10k-labels-idx1-ubyte"]
    _write(labels[: -len(".gz")], _idx_bytes(arrays["t10k-labels-idx1-ubyte"][:-1]), gz=True)
    with pytest.raises(DataError) as excinfo:
        sources.load("fashion_mnist", idx_dir=directory)
    message = str(excinfo.value)
    assert labels in message and paths["t10k-images-idx3-ubyte"] in message
    assert f"{N_TEST - 1} labels" in message and f"{N_TEST} images" in message


def test_label_out_of_range(idx_dir, no_tfds):
    directory, arrays, paths = idx_dir
    labels = arrays["train-labels-idx1-ubyte"].copy()
    labels[3] = 10
    _write(paths["train-labels-idx1-ubyte"][: -len(".gz")], _idx_bytes(labels), gz=True)
    with pytest.raises(DataError, match="label 10 outside"):
        sources.load("fashion_mnist", idx_dir=directory)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        sources.load("imagenet")


@pytest.mark.skipif(not os.path.isdir(sources.FASHION_MNIST_DIR), reason="dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist(no_tfds):
    raw = sources.load("fashion_mnist")
    assert raw.train.images.shape == (60000, 28, 28, 1) and raw.test.images.shape == (10000, 28, 28, 1)
    assert raw.train.labels.shape == (60000,) and raw.test.labels.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(raw.train.labels, minlength=10), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(raw.test.labels, minlength=10), [1000] * 10)
    assert sources.FASHION_MNIST_DIR in raw.origin


# ---------------------------------------------------------------------------------------------------------------
# CIFAR-10 python archive
# ---------------------------------------------------------------------------------------------------------------

CIFAR_MEMBERS = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] + ["cifar-10-batches-py/test_batch"]


def _cifar_batch(images_hwc: np.ndarray, labels: np.ndarray) -> dict:
    rows = images_hwc.transpose(0, 3, 1, 2).reshape(len(images_hwc), 3072)
    return {b"batch_label": b"fake", b"labels": [int(x) for x in labels], b"data": rows, b"filenames": []}


def _write_tar(path, members: dict) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return str(path)


@pytest.fixture
def cifar(tmp_path):
    """Pickled batches (name -> bytes) with 3 images per train batch, 4 in test, plus the arrays they hold."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5 * 3 + 4, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, len(images))
    payloads = {}
    for i, member in enumerate(CIFAR_MEMBERS):
        sl = slice(3 * i, 3 * i + (3 if i < 5 else 4))
        payloads[member] = pickle.dumps(_cifar_batch(images[sl], labels[sl]), protocol=2)
    payloads["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": []}, protocol=2)
    return tmp_path / "cifar-10-python.tar.gz", payloads, images, labels


def test_cifar_archive_round_trip(cifar):
    path, payloads, images, labels = cifar
    archive = _write_tar(path, payloads)
    raw = sources.load("cifar10", cifar_archive=archive)
    assert raw.origin == archive and raw.num_classes == 10
    assert raw.train.images.shape == (15, 32, 32, 3) and raw.test.images.shape == (4, 32, 32, 3)
    assert raw.train.images.dtype == np.uint8 and raw.train.labels.dtype == np.int64
    np.testing.assert_array_equal(raw.train.images, images[:15])
    np.testing.assert_array_equal(raw.train.labels, labels[:15])
    np.testing.assert_array_equal(raw.test.images, images[15:])
    np.testing.assert_array_equal(raw.test.labels, labels[15:])


def test_cifar_channel_order(tmp_path):
    # Row layout per the CIFAR-10 page: 1024 red values, then green, then blue, each 32x32 row-major.
    row = np.concatenate([np.arange(1024) % 256, np.full(1024, 7), np.full(1024, 9)]).astype(np.uint8)
    batch = {b"data": row[None, :], b"labels": [4]}
    archive = _write_tar(tmp_path / "c.tar.gz", {m: pickle.dumps(batch, protocol=2) for m in CIFAR_MEMBERS})
    data = sources.read_cifar10_archive(archive)
    train, test = data.train, data.test
    image = test.images[0]
    assert image.shape == (32, 32, 3)
    assert image[0, 1, 0] == 1 and image[1, 0, 0] == 32 and image[2, 3, 0] == (2 * 32 + 3) % 256
    assert (image[..., 1] == 7).all() and (image[..., 2] == 9).all()
    assert train.images.shape == (5, 32, 32, 3) and list(train.labels) == [4] * 5


def test_cifar_python2_style_numpy_names(cifar):
    # The original pickles name NumPy 1.x's numpy.core.multiarray._reconstruct.
    path, payloads, images, labels = cifar
    payloads = {m: p.replace(b"numpy._core.multiarray", b"numpy.core.multiarray") for m, p in payloads.items()}
    assert b"numpy.core.multiarray\n_reconstruct" in payloads[CIFAR_MEMBERS[0]]
    test = sources.read_cifar10_archive(_write_tar(path, payloads)).test
    np.testing.assert_array_equal(test.images, images[15:])


def test_cifar_protocol5_pickles(cifar):
    path, payloads, images, _ = cifar
    for member in CIFAR_MEMBERS:
        payloads[member] = pickle.dumps(pickle.loads(payloads[member]), protocol=5)
    train = sources.read_cifar10_archive(_write_tar(path, payloads)).train
    np.testing.assert_array_equal(train.images, images[:15])


def test_cifar_missing_member(cifar):
    path, payloads, _, _ = cifar
    del payloads["cifar-10-batches-py/data_batch_4"]
    archive = _write_tar(path, payloads)
    with pytest.raises(DataError) as excinfo:
        sources.load("cifar10", cifar_archive=archive)
    message = str(excinfo.value)
    assert archive in message and "cifar-10-batches-py/data_batch_4" in message and "missing" in message


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload, problem",
    [
        (b"garbage, not a pickle", "not a readable pickle"),
        (pickle.dumps(_Evil(), protocol=2), "not allowed"),
        (pickle.dumps([1, 2, 3], protocol=2), "expected a pickled dict"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), "no b'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 1024), np.uint8), b"labels": [0, 1]}, protocol=2), "uint8 [N, 3072]"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, protocol=2), "uint8 [N, 3072]"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "b'labels' has shape"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, protocol=2), "label 10"),
    ],
    ids=["garbage", "code", "list", "no-labels", "wrong-width", "wrong-dtype", "label-count", "label-range"],
)
def test_cifar_bad_member(cifar, payload, problem):
    path, payloads, _, _ = cifar
    payloads["cifar-10-batches-py/test_batch"] = payload
    archive = _write_tar(path, payloads)
    with pytest.raises(DataError) as excinfo:
        sources.read_cifar10_archive(archive)
    message = str(excinfo.value)
    assert f"{archive} (member cifar-10-batches-py/test_batch)" in message and problem in message


def test_cifar_archive_missing_or_not_tar(tmp_path, no_tfds):
    missing = str(tmp_path / "absent.tar.gz")
    with pytest.raises(DataError, match="archive not found") as excinfo:
        sources.load("cifar10", cifar_archive=missing)
    assert missing in str(excinfo.value)
    not_tar = tmp_path / "not.tar.gz"
    not_tar.write_bytes(gzip.compress(b"hello")[:-3])
    with pytest.raises(DataError, match="not a readable tar archive") as excinfo:
        sources.read_cifar10_archive(str(not_tar))
    assert str(not_tar) in str(excinfo.value)


# ---------------------------------------------------------------------------------------------------------------
# tfds (mocked, and unprepared)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs, shape",
    [
        ("cifar10", {}, (32, 32, 3)),
        ("mnist", {}, (28, 28, 1)),
        ("fashion_mnist", {}, (28, 28, 1)),
    ],
)
def test_tfds_mocked(tmp_path, monkeypatch, name, kwargs, shape):
    tfds = pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", str(tmp_path / "no-debian-files"))
    with tfds.testing.mock_data(num_examples=5):
        raw = sources.load(name, data_dir=str(tmp_path), **kwargs)
    assert raw.name == name and raw.num_classes == 10 and raw.origin.startswith(f"tfds:{name} (data_dir=")
    for split in (raw.train, raw.test):
        assert split.images.shape == (5, *shape) and split.images.dtype == np.uint8
        assert split.labels.shape == (5,) and split.labels.dtype == np.int64
        assert split.labels.min() >= 0 and split.labels.max() < 10


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_tfds_unprepared_fails_fast_with_fix(tmp_path, name):
    with pytest.raises(DataError) as excinfo:
        sources.load(name, data_dir=str(tmp_path))
    message = str(excinfo.value)
    assert f"tfds:{name}" in message and str(tmp_path) in message and f"tfds build {name}" in message
    assert not any(tmp_path.iterdir()), "an unprepared load must not create files"


def test_fashion_mnist_without_debian_files_or_tfds(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(sources, "FASHION_MNIST_DIR", str(tmp_path / "no-debian-files"))
    with pytest.raises(DataError) as excinfo:
        sources.load("fashion_mnist", data_dir=str(tmp_path))
    message = str(excinfo.value)
    assert "apt-get install dataset-fashion-mnist" in message and "tfds build fashion_mnist" in message
    assert "--idx_dir" in message and "\n" not in message
    assert "tfds" not in capfd.readouterr().err  # no tfds log line before the one-line error


def test_mistyped_idx_dir_is_named_never_a_tfds_fallback(tmp_path, no_tfds):
    with pytest.raises(DataError, match=f"{tmp_path / 'fashon-mnist'}: --idx_dir does not exist"):
        sources.load("fashion_mnist", idx_dir=str(tmp_path / "fashon-mnist"))


def test_cifar10_without_a_prepared_copy_names_cifar_archive(tmp_path):
    with pytest.raises(DataError, match="pass --cifar_archive=PATH of cifar-10-python.tar.gz"):
        sources.load("cifar10", data_dir=str(tmp_path))
