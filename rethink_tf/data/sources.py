"""Raw image-classification splits as uint8 numpy arrays in canonical order, from a source named by --dataset:

- fashion_mnist, cifar10, mnist: the built-in sets (Debian's IDX files, the CIFAR-10 python archive, or tfds);
- tfds:NAME[:CONFIG]: any tfds image-classification set (rethink_tf/data/tfds_source.py);
- npz:PATH and folder:PATH: a user's own arrays and image folders (rethink_tf/data/user_files.py).

Local files are read in file order and validated strictly; every failure is a DataError naming the file, the
problem and the fix. Nothing is downloaded unless --download asks tfds to. A split's identity is its fingerprint
(the bytes), not the place it was read from.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zlib

import numpy as np

from rethink_tf.errors import BadInput

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
DATASETS = ("fashion_mnist", "cifar10", "mnist")  # the built-in sets
PREFIXES = ("tfds", "npz", "folder")  # the sources named by prefix: tfds:NAME[:CONFIG], npz:PATH, folder:PATH

_NUM_CLASSES = {"fashion_mnist": 10, "cifar10": 10, "mnist": 10}

_IDX_FILES = {  # (split, kind) -> base name; the .gz variant is preferred when both exist
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
_IDX_FIX = (
    "restore the original file (for the default directory: `apt-get install --reinstall dataset-fashion-mnist`), "
    "or point --idx_dir at a directory holding the four original Fashion-MNIST IDX files"
)

_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_TRAIN_MEMBERS = tuple(f"{_CIFAR_DIR}/data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_MEMBER = f"{_CIFAR_DIR}/test_batch"
_CIFAR_FIX = (
    "download cifar-10-python.tar.gz again from https://www.cs.toronto.edu/~kriz/cifar.html "
    "(md5 c58f30108f718f92721af3b95e74349a) and pass it as --cifar_archive, or leave --cifar_archive unset to read "
    "tfds' prepared cifar10"
)


class DataError(BadInput):
    """A data file is missing, truncated or in the wrong format; the message names the file, the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class Split:
    """One split: images uint8 [N, H, W, C] and integer class labels int64 [N]."""

    images: np.ndarray
    labels: np.ndarray


def fingerprint(*arrays: np.ndarray) -> str:
    """The sha256 of arrays' shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class RawData:
    """A dataset's train and test splits plus where they were read from (`origin`, for logs and reports)."""

    name: str
    train: Split
    test: Split
    num_classes: int
    origin: str
    class_names: tuple[str, ...] | None = None

    @functools.cached_property
    def fingerprint(self) -> str:
        """The data's identity: both splits' images and labels (computed once, when first asked)."""
        return fingerprint(self.train.images, self.train.labels, self.test.images, self.test.labels)


def crop_size(requested: int, image_shape) -> int:
    """The side of the crop a run feeds its model: `requested` (--crop_size) when set, else the paper's 28 for
    28x28 and 32x32 images (its 28x28 crop of CIFAR-10's 32x32), else the images' shorter side."""
    if requested:
        return requested
    height, width = int(image_shape[0]), int(image_shape[1])
    return 28 if (height, width) in ((28, 28), (32, 32)) else min(height, width)


def check_sizes(raw: RawData, train_size: int, test_size: int) -> None:
    """DataError if a requested subset is larger than its split (0 means the whole split). --curve_test_size is
    not checked: one above the test set (the laptop preset's 200, on a user's smaller set) means all of it."""
    for flag, size, split in (
        ("train_size", train_size, raw.train),
        ("test_size", test_size, raw.test),
    ):
        if size > len(split.labels):
            which = "training" if split is raw.train else "test"
            raise DataError(
                f"--{flag}={size} is more than the {len(split.labels):,} {which} examples of "
                f"{raw.name} ({raw.origin}); pass at most {len(split.labels)}, or 0 for all"
            )


def data_error(path: str, problem: str, fix: str) -> DataError:
    """The one shape of a data error: where, what is wrong, how to fix it (every reader of the package uses it)."""
    return DataError(f"{path}: {problem}. Fix: {fix}.")


def first_line(err: BaseException) -> str:
    """An exception's first line, or its type's name when it has no text (for one-line errors)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------------------------------------------------
# IDX (MNIST / Fashion-MNIST)
# ---------------------------------------------------------------------------------------------------------------


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file of unsigned bytes (gzip-compressed or plain, detected from its content) into an array.

    Checks the magic (0x00 0x00 0x08 ndim), the dimensions and that the data is exactly prod(dims) bytes long.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise data_error(path, "file not found", _IDX_FIX) from None
    except OSError as err:
        raise data_error(path, f"cannot read file ({err})", _IDX_FIX) from err

    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise data_error(path, f"corrupt or truncated gzip stream ({err})", _IDX_FIX) from err

    if len(raw) < 4:
        raise data_error(path, f"too short for an IDX header ({len(raw)} bytes)", _IDX_FIX)
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or ndim == 0:
        raise data_error(path, f"not an IDX file (magic bytes {raw[:4].hex()}, expected 000008 + ndim>0)", _IDX_FIX)
    if type_code != 0x08:
        raise data_error(
            path, f"IDX data type 0x{type_code:02x} is not supported, only unsigned bytes (0x08)", _IDX_FIX
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise data_error(path, f"truncated in the IDX header ({len(raw)} of {header_len} bytes)", _IDX_FIX)
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(raw) - header_len
    if got < expected:
        raise data_error(path, f"truncated: dims {dims} need {expected} data bytes, file has {got}", _IDX_FIX)
    if got > expected:
        raise data_error(path, f"{got - expected} unexpected trailing bytes after the data for dims {dims}", _IDX_FIX)
    # Copied so callers get a writable array that does not pin the decompressed buffer.
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def _idx_path(idx_dir: str, base: str) -> str:
    for candidate in (os.path.join(idx_dir, base + ".gz"), os.path.join(idx_dir, base)):
        if os.path.isfile(candidate):
            return candidate
    raise data_error(os.path.join(idx_dir, base + ".gz"), f"file not found (nor un-gzipped {base})", _IDX_FIX)


def _read_idx_split(idx_dir: str, split: str, num_classes: int) -> tuple[Split, str, str]:
    images_path = _idx_path(idx_dir, _IDX_FILES[(split, "images")])
    labels_path = _idx_path(idx_dir, _IDX_FILES[(split, "labels")])
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise data_error(images_path, f"expected 3-D images [N, H, W], got dims {images.shape}", _IDX_FIX)
    if labels.ndim != 1:
        raise data_error(labels_path, f"expected 1-D labels [N], got dims {labels.shape}", _IDX_FIX)
    if len(images) != len(labels):
        raise data_error(
            labels_path,
            f"has {len(labels)} labels but {images_path} has {len(images)} images",
            "use image and label files from the same release",
        )
    bad = labels >= num_classes
    if bad.any():
        raise data_error(
            labels_path,
            f"label {int(labels[bad][0])} outside [0, {num_classes}) at index {int(np.argmax(bad))}",
            _IDX_FIX,
        )
    return Split(images=images[..., np.newaxis], labels=labels.astype(np.int64)), images_path, labels_path


# ---------------------------------------------------------------------------------------------------------------
# CIFAR-10 python archive
# ---------------------------------------------------------------------------------------------------------------


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch allowing only the globals numpy arrays need, so a crafted archive cannot run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if module.startswith("numpy.core"):  # NumPy 1.x names, as in the original (Python 2) pickles
            module = "numpy._core" + module[len("numpy.core") :]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _parse_cifar_batch(archive: str, member: str, payload: bytes) -> Split:
    where = f"{archive} (member {member})"
    try:
        batch = _BatchUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except Exception as err:  # any unpickling failure means a damaged or foreign member
        raise data_error(where, f"not a readable pickle ({type(err).__name__}: {err})", _CIFAR_FIX) from err
    if not isinstance(batch, dict):
        raise data_error(where, f"expected a pickled dict, got {type(batch).__name__}", _CIFAR_FIX)
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise data_error(
                where, f"the pickled dict has no b{key!r} entry (keys: {sorted(map(str, batch))})", _CIFAR_FIX
            )
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise data_error(where, f"b'data' must be uint8 [N, 3072], got {data.dtype} {data.shape}", _CIFAR_FIX)
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as err:
        raise data_error(where, f"b'labels' is not a list of integers ({err})", _CIFAR_FIX) from err
    if labels.shape != (len(data),):
        raise data_error(where, f"b'labels' has shape {labels.shape}, expected ({len(data)},)", _CIFAR_FIX)
    bad = (labels < 0) | (labels >= 10)
    if bad.any():
        raise data_error(where, f"label {int(labels[bad][0])} outside [0, 10)", _CIFAR_FIX)
    # Rows are channel-major (1024 R, 1024 G, 1024 B, each row-major 32x32); convert to HWC.
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return Split(images=images, labels=labels)


def read_cifar10_archive(path: str) -> tuple[Split, Split]:
    """Reads cifar-10-python.tar.gz: train = data_batch_1..5 in order, test = test_batch; images HWC uint8."""
    wanted = set(_CIFAR_TRAIN_MEMBERS) | {_CIFAR_TEST_MEMBER}
    payloads: dict[str, bytes] = {}
    try:
        # Stream mode: one sequential pass over the gzip, no seeking back for each member.
        with tarfile.open(path, "r|*") as tar:
            for info in tar:
                name = info.name[2:] if info.name.startswith("./") else info.name
                if name in wanted and info.isfile():
                    payloads[name] = tar.extractfile(info).read()
    except FileNotFoundError:
        raise data_error(path, "archive not found", _CIFAR_FIX) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        problem = f"not a readable tar archive, or truncated ({type(err).__name__}: {err})"
        raise data_error(path, problem, _CIFAR_FIX) from err

    for member in (*_CIFAR_TRAIN_MEMBERS, _CIFAR_TEST_MEMBER):
        if member not in payloads:
            raise data_error(f"{path} (member {member})", "member missing from the archive", _CIFAR_FIX)
    train_parts = [_parse_cifar_batch(path, m, payloads.pop(m)) for m in _CIFAR_TRAIN_MEMBERS]
    test = _parse_cifar_batch(path, _CIFAR_TEST_MEMBER, payloads.pop(_CIFAR_TEST_MEMBER))
    train = Split(
        images=np.concatenate([p.images for p in train_parts]),
        labels=np.concatenate([p.labels for p in train_parts]),
    )
    return train, test


# ---------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Source:
    """A parsed --dataset: kind (a built-in name, "tfds", "npz" or "folder") and its argument (the tfds name as
    NAME or NAME/CONFIG, or the path)."""

    kind: str
    argument: str = ""


def parse(dataset: str) -> Source:
    """--dataset as a Source; ValueError with what is allowed when it names none."""
    if dataset in DATASETS:
        return Source(dataset)
    prefix, sep, rest = dataset.partition(":")
    if sep and prefix in PREFIXES and rest:
        if prefix == "tfds":
            name, _, config = rest.partition(":")
            if not name or ":" in config or "/" in name:
                raise ValueError("tfds:NAME or tfds:NAME:CONFIG, e.g. tfds:svhn_cropped")
            return Source("tfds", f"{name}/{config}" if config else name)
        return Source(prefix, rest)
    raise ValueError(f"one of {', '.join(DATASETS)}, or tfds:NAME[:CONFIG], npz:PATH, folder:PATH")


def _tfds_fix(name: str) -> str:
    from rethink_tf.data import tfds_source

    fix = tfds_source.prepare_fix(name, manual=False)
    if name == "fashion_mnist":
        fix = (
            f"install Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`, provides "
            f"{FASHION_MNIST_DIR}), or pass --idx_dir=DIR of the four IDX files, or {fix}"
        )
    if name == "cifar10":
        fix = f"pass --cifar_archive=PATH of cifar-10-python.tar.gz, or {fix}"
    return fix


def _validate(split: Split, split_name: str, origin: str, num_classes: int, channels: int | None) -> None:
    images, labels = split.images, split.labels
    problem = None
    if images.dtype != np.uint8 or images.ndim != 4 or (channels and images.shape[-1] != channels):
        problem = f"{split_name} images must be uint8 [N, H, W, {channels or 'C'}], got {images.dtype} {images.shape}"
    elif labels.dtype != np.int64 or labels.shape != (len(images),):
        problem = f"{split_name} labels must be int64 [{len(labels)}], got {labels.dtype} {labels.shape}"
    elif len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        problem = f"{split_name} labels span [{labels.min()}, {labels.max()}], outside [0, {num_classes})"
    if problem:
        raise data_error(origin, problem, "re-create the data from the original release")


def load(
    name: str,
    *,
    data_dir: str | None = None,
    cifar_archive: str | None = None,
    idx_dir: str | None = None,
    download: bool = False,
    manual_dir: str | None = None,
    train_split: str = "train",
    test_split: str = "test",
    image_size: int = 0,
) -> RawData:
    """Loads the train and test splits of --dataset `name`.

    fashion_mnist: the IDX files in idx_dir, which must exist when given; else Debian's FASHION_MNIST_DIR if
    installed, else tfds. cifar10: cifar_archive if given, else tfds. mnist and tfds:NAME: tfds, whose data
    directory is data_dir (None: tfds' default), downloaded and prepared there only when `download` (manual_dir:
    the files of a set tfds cannot download itself); train_split and test_split are tfds split names.
    image_size > 0 brings every image to that square size.
    """
    try:
        source = parse(name)
    except ValueError as err:
        raise ValueError(f"unknown dataset {name!r}; expected {err}") from None
    num_classes = _NUM_CLASSES.get(name)
    channels = {"cifar10": 3, "fashion_mnist": 1, "mnist": 1}.get(name)
    class_names = None

    if name == "fashion_mnist" and idx_dir is not None and not os.path.exists(idx_dir):
        raise data_error(
            idx_dir,
            "--idx_dir does not exist",
            "pass the directory that holds the four Fashion-MNIST "
            "IDX files, or leave --idx_dir unset for Debian's dataset-fashion-mnist",
        )
    if name == "fashion_mnist" and idx_dir is None and os.path.exists(FASHION_MNIST_DIR):
        idx_dir = FASHION_MNIST_DIR
    if name == "fashion_mnist" and idx_dir is not None:
        if not os.path.isdir(idx_dir):
            raise data_error(idx_dir, "exists but is not a directory", _IDX_FIX)
        train, *train_files = _read_idx_split(idx_dir, "train", num_classes)
        test, *test_files = _read_idx_split(idx_dir, "test", num_classes)
        origin = ", ".join([*train_files, *test_files])
    elif name == "cifar10" and cifar_archive is not None:
        train, test = read_cifar10_archive(cifar_archive)
        origin = cifar_archive
    elif source.kind in ("npz", "folder"):
        from rethink_tf.data import user_files

        path = os.path.abspath(os.path.expanduser(source.argument))
        if source.kind == "npz":
            train, test, num_classes, class_names = user_files.read_npz(path)
        else:
            train, test, num_classes, class_names = user_files.read_folder(path, image_size)
        train, test = Split(*train), Split(*test)
        origin = f"{source.kind}:{path}"
    else:
        from rethink_tf.data import tfds_source

        tfds_name = source.argument if source.kind == "tfds" else name
        try:
            train, test, num_classes, class_names, origin = tfds_source.load(
                tfds_name,
                data_dir=data_dir,
                download=download,
                manual_dir=manual_dir,
                splits=(train_split, test_split),
                image_size=image_size,
            )
        except DataError as err:
            if source.kind == "tfds":
                raise
            # A built-in set: its local alternatives come first in the fix.
            raise DataError(str(err).split(". Fix: ")[0] + f". Fix: {_tfds_fix(name)}.") from None
        train, test = Split(*train), Split(*test)
        channels = None if source.kind == "tfds" else channels

    if image_size and train.images.shape[1:3] != (image_size, image_size):
        from rethink_tf.data import resize

        train = Split(resize.all_to_square(train.images, image_size), train.labels)
        test = Split(resize.all_to_square(test.images, image_size), test.labels)
    _validate(train, "train", origin, num_classes, channels)
    _validate(test, "test", origin, num_classes, channels)
    return RawData(
        name=name,
        train=train,
        test=test,
        num_classes=num_classes,
        origin=origin,
        class_names=class_names,
    )


def load_for(config) -> RawData:
    """The source splits of a run's data set, read from where its config says (a RunConfig, or any object with
    its data fields)."""
    return load(
        config.dataset,
        data_dir=config.data_dir,
        cifar_archive=config.cifar_archive,
        idx_dir=config.idx_dir,
        download=getattr(config, "download", False),
        manual_dir=getattr(config, "manual_dir", None),
        train_split=getattr(config, "train_split", "train"),
        test_split=getattr(config, "test_split", "test"),
        image_size=getattr(config, "image_size", 0),
    )
