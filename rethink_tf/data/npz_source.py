"""A user's own arrays in an .npz file (`npz:PATH`): x_train, y_train, x_test, y_test (and optional
class_names) as the same raw splits as the built-in sets, so corruptions, subsets, records and reports work
unchanged. Every problem is a DataError naming the file, the array and the fix."""

from __future__ import annotations

import zipfile

import numpy as np

from rethink_tf.data.base import RawSplit, Splits, data_error

KEYS = ("x_train", "y_train", "x_test", "y_test")
_SPLITS = ("train", "test")
_FIX = (
    "write the file with np.savez(PATH, x_train=..., y_train=..., x_test=..., y_test=...): uint8 images "
    "[N, H, W] or [N, H, W, C] and integer labels 0..K-1 [N]"
)


def _as_images(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise data_error(where, f"images must be [N, H, W] or [N, H, W, C] with C 1 or 3, got shape {x.shape}", _FIX)
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or x.size and (x.min() < 0 or x.max() > 255):
            raise data_error(where, f"images must be uint8 (0..255), got {x.dtype}", _FIX + " (x.astype(np.uint8))")
        x = x.astype(np.uint8)
    return x


def _as_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        raise data_error(where, f"labels must be integers, got {y.dtype}", _FIX)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.shape != (n,):
        raise data_error(where, f"has {y.shape} labels for {n} images; one label per image is needed", _FIX)
    if y.size and y.min() < 0:
        raise data_error(where, f"label {int(y.min())} is negative; labels must be classes 0..K-1", _FIX)
    return y.astype(np.int64)


def read(path: str) -> Splits:
    """x_train, y_train, x_test, y_test of the .npz file at (absolute) `path`. The classes are 0..max label, or
    those of class_names when the file has them; every one must occur in training."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in KEYS if k not in f.files]
            if missing:
                raise data_error(
                    path, f"has no array {', '.join(missing)} (it holds {', '.join(f.files) or 'none'})", _FIX
                )
            arrays = {k: np.asarray(f[k]) for k in KEYS}
            names = tuple(str(s) for s in f["class_names"]) if "class_names" in f.files else None
    except FileNotFoundError:
        raise data_error(path, "file not found", "pass --dataset=npz:PATH of an existing .npz file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise data_error(path, f"not a readable .npz file ({type(err).__name__}: {err})", _FIX) from err
    splits = []
    for split in _SPLITS:
        images = _as_images(arrays[f"x_{split}"], f"{path} (x_{split})")
        splits.append(RawSplit(images, _as_labels(arrays[f"y_{split}"], len(images), f"{path} (y_{split})")))
    train, test = splits
    if train.images.shape[1:] != test.images.shape[1:]:
        raise data_error(
            path, f"x_train images are {train.images.shape[1:]} but x_test images {test.images.shape[1:]}", _FIX
        )
    if not len(train.labels) or not len(test.labels):
        raise data_error(path, f"the {'training' if not len(train.labels) else 'test'} split is empty", _FIX)
    num_classes = len(names) if names else int(max(train.labels.max(), test.labels.max())) + 1
    for split, y in (("y_train", train.labels), ("y_test", test.labels)):
        if y.max() >= num_classes:
            raise data_error(
                f"{path} ({split})",
                f"label {int(y.max())} is outside the {num_classes} classes of class_names",
                _FIX,
            )
    empty = np.flatnonzero(np.bincount(train.labels, minlength=num_classes) == 0)
    if len(empty):
        raise data_error(
            f"{path} (y_train)",
            f"class {int(empty[0])} has no training example (classes are 0..{num_classes - 1})",
            "number the classes 0..K-1 without gaps, or give class_names of only the classes present",
        )
    return Splits(train, test, num_classes, origin=f"npz:{path}", class_names=names)
