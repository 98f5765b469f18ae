"""Fashion-MNIST (and MNIST) from the four original IDX files of a directory (--idx_dir, or Debian's
dataset-fashion-mnist): each file's header and length checked, every failure a DataError naming the file."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from rethink_tf.data.base import RawSplit, Splits, data_error, kept_while_unchanged

_FILES = {  # (split, kind) -> base name; the .gz variant is preferred when both exist
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
FIX = (
    "restore the original file (for the default directory: `apt-get install --reinstall dataset-fashion-mnist`), "
    "or point --idx_dir at a directory holding the four original Fashion-MNIST IDX files"
)


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file of unsigned bytes (gzip-compressed or plain, detected from its content) into an array.

    Checks the magic (0x00 0x00 0x08 ndim), the dimensions and that the data is exactly prod(dims) bytes long.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise data_error(path, "file not found", FIX) from None
    except OSError as err:
        raise data_error(path, f"cannot read file ({err})", FIX) from err

    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise data_error(path, f"corrupt or truncated gzip stream ({err})", FIX) from err

    if len(raw) < 4:
        raise data_error(path, f"too short for an IDX header ({len(raw)} bytes)", FIX)
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or ndim == 0:
        raise data_error(path, f"not an IDX file (magic bytes {raw[:4].hex()}, expected 000008 + ndim>0)", FIX)
    if type_code != 0x08:
        raise data_error(path, f"IDX data type 0x{type_code:02x} is not supported, only unsigned bytes (0x08)", FIX)
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise data_error(path, f"truncated in the IDX header ({len(raw)} of {header_len} bytes)", FIX)
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(raw) - header_len
    if got < expected:
        raise data_error(path, f"truncated: dims {dims} need {expected} data bytes, file has {got}", FIX)
    if got > expected:
        raise data_error(path, f"{got - expected} unexpected trailing bytes after the data for dims {dims}", FIX)
    # Copied so callers get a writable array that does not pin the decompressed buffer.
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def _path(idx_dir: str, base: str) -> str:
    for candidate in (os.path.join(idx_dir, base + ".gz"), os.path.join(idx_dir, base)):
        if os.path.isfile(candidate):
            return candidate
    raise data_error(os.path.join(idx_dir, base + ".gz"), f"file not found (nor un-gzipped {base})", FIX)


def _read_split(idx_dir: str, split: str, num_classes: int) -> tuple[RawSplit, str, str]:
    """One split and the paths of its images and labels files."""
    images_path = _path(idx_dir, _FILES[(split, "images")])
    labels_path = _path(idx_dir, _FILES[(split, "labels")])
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise data_error(images_path, f"expected 3-D images [N, H, W], got dims {images.shape}", FIX)
    if labels.ndim != 1:
        raise data_error(labels_path, f"expected 1-D labels [N], got dims {labels.shape}", FIX)
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
            FIX,
        )
    return RawSplit(images=images[..., np.newaxis], labels=labels.astype(np.int64)), images_path, labels_path


def read(idx_dir: str, num_classes: int) -> Splits:
    """The train (train-*) and test (t10k-*) splits of the IDX files in idx_dir, images [N, H, W, 1]; the
    origin names the four files read."""
    if not os.path.isdir(idx_dir):
        raise data_error(idx_dir, "exists but is not a directory", FIX)

    def read_all() -> Splits:
        train, *train_files = _read_split(idx_dir, "train", num_classes)
        test, *test_files = _read_split(idx_dir, "test", num_classes)
        return Splits(train, test, num_classes, origin=", ".join([*train_files, *test_files]))

    files = [_path(idx_dir, base) for base in _FILES.values()]
    return kept_while_unchanged(("idx", os.path.realpath(idx_dir), num_classes), files, read_all)
