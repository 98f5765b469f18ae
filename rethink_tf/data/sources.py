"""--dataset parsed and dispatched: READERS maps each kind of source to its reader, and load() returns the
train and test splits as uint8 numpy arrays in canonical order, checked, in a RawData.

- fashion_mnist, cifar10, mnist: the built-in sets (Debian's IDX files: idx_source.py, the CIFAR-10 python
  archive: cifar_source.py, or tfds);
- tfds:NAME[:CONFIG]: any tfds image-classification set (tfds_source.py);
- npz:PATH and folder:PATH: a user's own arrays and image folders (npz_source.py, folder_source.py).

Local files are read in file order and validated strictly; every failure is a DataError naming the file, the
problem and the fix. Nothing is downloaded unless --download asks tfds to. A split's identity is its fingerprint
(the bytes), not the place it was read from. The shared types live in base.py and are importable from here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np

from rethink_tf.data import cifar_source, folder_source, idx_source, npz_source, tfds_source
from rethink_tf.data.base import (
    DATASETS,
    FASHION_MNIST_DIR,
    DataError,
    RawData,
    RawSplit,
    Splits,
    check_sizes,
    crop_size,
    data_error,
    fingerprint,
)
from rethink_tf.data.cifar_source import read as read_cifar10_archive
from rethink_tf.data.idx_source import read_idx

__all__ = [  # what callers use of the data package's sources, base.py's names included
    "DATASETS",
    "FASHION_MNIST_DIR",
    "PREFIXES",
    "READERS",
    "DataError",
    "Options",
    "RawData",
    "RawSplit",
    "Source",
    "Splits",
    "check_sizes",
    "crop_size",
    "fingerprint",
    "load",
    "load_for",
    "parse",
    "read_cifar10_archive",
    "read_idx",
]

_CHANNELS = {"fashion_mnist": 1, "cifar10": 3, "mnist": 1}  # of the built-in sets' images, checked


@dataclasses.dataclass(frozen=True)
class Source:
    """A parsed --dataset: kind (a built-in name, "tfds", "npz" or "folder") and its argument (the tfds name as
    NAME or NAME/CONFIG, or the path)."""

    kind: str
    argument: str = ""


@dataclasses.dataclass(frozen=True)
class Options:
    """Where and how load() reads, as its keyword arguments (a reader takes the ones its kind needs)."""

    data_dir: str | None = None
    cifar_archive: str | None = None
    idx_dir: str | None = None
    download: bool = False
    manual_dir: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    image_size: int = 0


def _tfds(source: Source, options: Options) -> Splits:
    """tfds:NAME[:CONFIG], or a built-in set by its tfds name, from tfds' data dir."""
    return tfds_source.read(
        source.argument or source.kind,
        data_dir=options.data_dir,
        download=options.download,
        manual_dir=options.manual_dir,
        splits=(options.train_split, options.test_split),
        image_size=options.image_size,
    )


def _tfds_fix(name: str) -> str:
    """How to bring built-in set `name` when tfds has no copy: its local files first, then tfds."""
    fix = tfds_source.prepare_fix(name, manual=False)
    if name == "fashion_mnist":
        fix = (
            f"install Debian's dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`, provides "
            f"{FASHION_MNIST_DIR}), or pass --idx_dir=DIR of the four IDX files, or {fix}"
        )
    if name == "cifar10":
        fix = f"pass --cifar_archive=PATH of cifar-10-python.tar.gz, or {fix}"
    return fix


def _builtin_tfds(source: Source, options: Options) -> Splits:
    """A built-in set from tfds (mnist always; the others when their local files are not given)."""
    try:
        return _tfds(source, options)
    except DataError as err:  # its local alternatives come first in the fix
        raise DataError(str(err).split(". Fix: ")[0] + f". Fix: {_tfds_fix(source.kind)}.") from None


def _fashion_mnist(source: Source, options: Options) -> Splits:
    """The IDX files in --idx_dir, which must exist when given; else in Debian's FASHION_MNIST_DIR if installed;
    else tfds."""
    idx_dir = options.idx_dir
    if idx_dir is not None and not os.path.exists(idx_dir):
        raise data_error(
            idx_dir,
            "--idx_dir does not exist",
            "pass the directory that holds the four Fashion-MNIST "
            "IDX files, or leave --idx_dir unset for Debian's dataset-fashion-mnist",
        )
    if idx_dir is None and os.path.exists(FASHION_MNIST_DIR):
        idx_dir = FASHION_MNIST_DIR
    if idx_dir is None:
        return _builtin_tfds(source, options)
    return idx_source.read(idx_dir, num_classes=10)


def _cifar10(source: Source, options: Options) -> Splits:
    """The archive --cifar_archive when given, else tfds."""
    if options.cifar_archive is None:
        return _builtin_tfds(source, options)
    return cifar_source.read(options.cifar_archive)


def _user_path(source: Source) -> str:
    return os.path.abspath(os.path.expanduser(source.argument))


READERS: dict[str, Callable[[Source, Options], Splits]] = {  # a source's kind -> its reader
    "fashion_mnist": _fashion_mnist,
    "cifar10": _cifar10,
    "mnist": _builtin_tfds,
    "tfds": _tfds,
    "npz": lambda source, options: npz_source.read(_user_path(source)),
    "folder": lambda source, options: folder_source.read(_user_path(source), options.image_size),
}
PREFIXES = tuple(kind for kind in READERS if kind not in DATASETS)  # named by prefix: tfds:NAME[:CONFIG], npz:PATH...


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


def _validate(split: RawSplit, split_name: str, origin: str, num_classes: int, channels: int | None) -> None:
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
    """Loads the train and test splits of --dataset `name`, by the reader READERS names for its kind.

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
    options = Options(
        data_dir=data_dir,
        cifar_archive=cifar_archive,
        idx_dir=idx_dir,
        download=download,
        manual_dir=manual_dir,
        train_split=train_split,
        test_split=test_split,
        image_size=image_size,
    )
    read = READERS[source.kind](source, options)
    key = (id(read), name, image_size)
    if key in _LOADED and _LOADED[key][0] is read:  # a reader's kept Splits (base.kept_while_unchanged)
        return _LOADED[key][1]
    raw = _loaded(read, name, image_size)
    _LOADED.clear()
    _LOADED[key] = (read, raw)  # the Splits held with it: its id is not reused while the entry lives
    return raw


# The RawData of the last Splits loaded: the same Splits again (a reader kept them) give the same RawData, whose
# fingerprint is then computed once.
_LOADED: dict[tuple, tuple] = {}


def forget_loaded() -> None:
    _LOADED.clear()


def _loaded(read, name: str, image_size: int) -> RawData:
    train, test = read.train, read.test
    if image_size and train.images.shape[1:3] != (image_size, image_size):
        from rethink_tf.data import resize

        train = RawSplit(resize.all_to_square(train.images, image_size), train.labels)
        test = RawSplit(resize.all_to_square(test.images, image_size), test.labels)
        for images in (train.images, test.images):
            images.setflags(write=False)  # shared as the reader's are
    channels = _CHANNELS.get(name)
    _validate(train, "train", read.origin, read.num_classes, channels)
    _validate(test, "test", read.origin, read.num_classes, channels)
    return RawData(
        name=name,
        train=train,
        test=test,
        num_classes=read.num_classes,
        origin=read.origin,
        class_names=read.class_names,
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
