"""What every reader of rethink_tf/data shares: the raw split and data types, their fingerprint, the one shape
of a data error, and the built-in sets' names. The bottom of the data package: it imports nothing of the
package but rethink_tf.errors, so each reader imports it and nothing else of the package.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import os

import numpy as np

from rethink_tf.errors import BadInput

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist
DATASETS = ("fashion_mnist", "cifar10", "mnist")  # the built-in sets


class DataError(BadInput):
    """A data file is missing, truncated or in the wrong format; the message names the file, the problem and the fix."""


def data_error(path: str, problem: str, fix: str) -> DataError:
    """The one shape of a data error: where, what is wrong, how to fix it (every reader of the package uses it)."""
    return DataError(f"{path}: {problem}. Fix: {fix}.")


# Splits read from files, by reader and arguments: (the files' stamps, the Splits). One entry per data set read.
_READ: "collections.OrderedDict[tuple, tuple]" = collections.OrderedDict()
_READ_ENTRIES = 2


def kept_while_unchanged(key: tuple, files: list[str], read) -> "Splits":
    """read()'s Splits, kept for the process and read again when one of `files` changes (its size, modification
    time or inode): the runs of one process, a notebook's loop of rethink_tf.run, read a data set once. The kept
    arrays are read-only, as they are shared."""
    stamps = tuple((f, st.st_size, st.st_mtime_ns, st.st_ino) for f, st in ((f, os.stat(f)) for f in files))
    kept = _READ.get(key)
    if kept is not None and kept[0] == stamps:
        _READ.move_to_end(key)
        return kept[1]
    splits = read()
    for split in (splits.train, splits.test):
        split.images.setflags(write=False)
        split.labels.setflags(write=False)
    _READ[key] = (stamps, splits)
    while len(_READ) > _READ_ENTRIES:
        _READ.popitem(last=False)
    return splits


def forget_read() -> None:
    """Forgets the Splits kept by kept_while_unchanged."""
    _READ.clear()


def first_line(err: BaseException) -> str:
    """An exception's first line, or its type's name when it has no text (for one-line errors)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def fingerprint(*arrays: np.ndarray) -> str:
    """The sha256 of arrays' shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class RawSplit:
    """One split as read: images uint8 [N, H, W, C] and integer class labels int64 [N] (pipeline.Split is the
    same split subset, corrupted and as float32)."""

    images: np.ndarray
    labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class Splits:
    """What a reader returns: the train and test splits, the number of classes, where they were read from
    (`origin`, for logs and reports) and the class names when the source has them."""

    train: RawSplit
    test: RawSplit
    num_classes: int
    origin: str
    class_names: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class RawData:
    """A dataset's train and test splits plus where they were read from (`origin`, for logs and reports)."""

    name: str
    train: RawSplit
    test: RawSplit
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
