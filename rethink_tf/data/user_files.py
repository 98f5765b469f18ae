"""A user's own data: arrays in an .npz file (`npz:PATH`) and image folders (`folder:PATH`).

Both give the same raw splits as the built-in sets (uint8 [N, H, W, C], int64 labels, canonical order), so
corruptions, subsets, records and reports work unchanged. Every problem is a DataError naming the file and the
fix. Images are decoded with TensorFlow's own decoders (tf.io.decode_image: PNG, JPEG, GIF, BMP).
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from rethink_tf.data.sources import data_error

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
FOLDER_SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")

_NPZ_FIX = (
    "write the file with np.savez(PATH, x_train=..., y_train=..., x_test=..., y_test=...): uint8 images "
    "[N, H, W] or [N, H, W, C] and integer labels 0..K-1 [N]"
)
_FOLDER_FIX = "lay the folder out as PATH/train/<class>/<image> and PATH/test/<class>/<image> (PNG or JPEG)"


def _as_images(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise data_error(
            where, f"images must be [N, H, W] or [N, H, W, C] with C 1 or 3, got shape {x.shape}", _NPZ_FIX
        )
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or x.size and (x.min() < 0 or x.max() > 255):
            raise data_error(where, f"images must be uint8 (0..255), got {x.dtype}", _NPZ_FIX + " (x.astype(np.uint8))")
        x = x.astype(np.uint8)
    return x


def _as_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer):
        raise data_error(where, f"labels must be integers, got {y.dtype}", _NPZ_FIX)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.shape != (n,):
        raise data_error(where, f"has {y.shape} labels for {n} images; one label per image is needed", _NPZ_FIX)
    if y.size and y.min() < 0:
        raise data_error(where, f"label {int(y.min())} is negative; labels must be classes 0..K-1", _NPZ_FIX)
    return y.astype(np.int64)


def read_npz(path: str):
    """x_train, y_train, x_test, y_test of an .npz file as (train (images, labels), test (images, labels),
    number of classes, class names or None). The classes are 0..max label; every one must occur in training."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise data_error(
                    path, f"has no array {', '.join(missing)} (it holds {', '.join(f.files) or 'none'})", _NPZ_FIX
                )
            arrays = {k: np.asarray(f[k]) for k in NPZ_KEYS}
            names = tuple(str(s) for s in f["class_names"]) if "class_names" in f.files else None
    except FileNotFoundError:
        raise data_error(path, "file not found", "pass --dataset=npz:PATH of an existing .npz file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise data_error(path, f"not a readable .npz file ({type(err).__name__}: {err})", _NPZ_FIX) from err
    splits = []
    for split in FOLDER_SPLITS:
        images = _as_images(arrays[f"x_{split}"], f"{path} (x_{split})")
        splits.append((images, _as_labels(arrays[f"y_{split}"], len(images), f"{path} (y_{split})")))
    (train_x, train_y), (test_x, test_y) = splits
    if train_x.shape[1:] != test_x.shape[1:]:
        raise data_error(path, f"x_train images are {train_x.shape[1:]} but x_test images {test_x.shape[1:]}", _NPZ_FIX)
    if not len(train_y) or not len(test_y):
        raise data_error(path, f"the {'training' if not len(train_y) else 'test'} split is empty", _NPZ_FIX)
    num_classes = len(names) if names else int(max(train_y.max(), test_y.max())) + 1
    for split, y in (("y_train", train_y), ("y_test", test_y)):
        if y.max() >= num_classes:
            raise data_error(
                f"{path} ({split})",
                f"label {int(y.max())} is outside the {num_classes} classes of class_names",
                _NPZ_FIX,
            )
    empty = np.flatnonzero(np.bincount(train_y, minlength=num_classes) == 0)
    if len(empty):
        raise data_error(
            f"{path} (y_train)",
            f"class {int(empty[0])} has no training example (classes are 0..{num_classes - 1})",
            "number the classes 0..K-1 without gaps, or give class_names of only the classes present",
        )
    return splits[0], splits[1], num_classes, names


def _list_folder(root: str, split: str) -> dict[str, list[str]]:
    where = os.path.join(root, split)
    if not os.path.isdir(where):
        raise data_error(where, f"split folder {split!r} missing", _FOLDER_FIX)
    classes = sorted(d for d in os.listdir(where) if os.path.isdir(os.path.join(where, d)) and not d.startswith("."))
    if not classes:
        raise data_error(where, "has no class folders", _FOLDER_FIX)
    out = {}
    for name in classes:
        files = sorted(
            os.path.join(where, name, f)
            for f in os.listdir(os.path.join(where, name))
            if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")
        )
        if not files:
            raise data_error(os.path.join(where, name), "class folder holds no PNG or JPEG image", _FOLDER_FIX)
        out[name] = files
    return out


def _decode(path: str):
    import tensorflow as tf

    try:
        with open(path, "rb") as f:
            data = f.read()
        with tf.device("/CPU:0"):
            image = tf.io.decode_image(data, expand_animations=False).numpy()
    except Exception as err:  # any decoder failure: the file is not an image TensorFlow reads
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise data_error(path, f"unreadable image ({first})", "replace or delete the file") from err
    if image.shape[-1] == 4:
        image = image[..., :3]  # alpha dropped: the models see colour
    return image


def read_folder(root: str, image_size: int):
    """PATH/train/<class>/* and PATH/test/<class>/* as (train, test, number of classes, class names): classes
    are train's folder names in sorted order, examples in (class, file name) order. Images must share one
    size unless image_size (> 0) brings each to image_size x image_size; grey images become RGB when others
    are colour."""
    if not os.path.isdir(root):
        raise data_error(root, "folder not found", "pass --dataset=folder:PATH of an existing folder")
    listing = {split: _list_folder(root, split) for split in FOLDER_SPLITS}
    names = tuple(listing["train"])
    unknown = sorted(set(listing["test"]) - set(names))
    if unknown:
        raise data_error(
            os.path.join(root, "test", unknown[0]),
            f"class {unknown[0]!r} has no folder in train/, so it is outside the classes {', '.join(names)}",
            "give every test class a train/ folder of the same name",
        )
    from rethink_tf.data import resize

    decoded = {}
    for split in FOLDER_SPLITS:
        decoded[split] = [
            (path, names.index(name), _decode(path)) for name, paths in listing[split].items() for path in paths
        ]
    colour = any(x.shape[-1] == 3 for split in decoded.values() for _, _, x in split)
    out = []
    first_path, first_shape = None, None
    for split in FOLDER_SPLITS:
        images = []
        for path, _, x in decoded[split]:
            if colour and x.shape[-1] == 1:
                x = np.repeat(x, 3, axis=-1)
            if not image_size:
                if first_shape is None:
                    first_path, first_shape = path, x.shape
                elif x.shape != first_shape:
                    raise data_error(
                        path,
                        f"image is {x.shape[1]}x{x.shape[0]} but {first_path} is {first_shape[1]}x{first_shape[0]}",
                        "pass --image_size=S to bring every image to S x S, or resize the images to one size",
                    )
            images.append(x)
        images = resize.all_to_square(images, image_size) if image_size else np.stack(images)
        labels = np.array([label for _, label, _ in decoded[split]], np.int64)
        out.append((images, labels))
    return out[0], out[1], len(names), names
