"""A user's own image folders (`folder:PATH`): PATH/train/<class>/<image> and PATH/test/<class>/<image>,
decoded with TensorFlow's own decoders (tf.io.decode_image: PNG, JPEG, GIF, BMP) into the same raw splits as
the built-in sets. Every problem is a DataError naming the file or folder and the fix."""

from __future__ import annotations

import os

import numpy as np

from rethink_tf.data.base import RawSplit, Splits, data_error

SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
_FIX = "lay the folder out as PATH/train/<class>/<image> and PATH/test/<class>/<image> (PNG or JPEG)"


def _list_folder(root: str, split: str) -> dict[str, list[str]]:
    """A split's class folders (sorted) and each one's image files (sorted)."""
    where = os.path.join(root, split)
    if not os.path.isdir(where):
        raise data_error(where, f"split folder {split!r} missing", _FIX)
    classes = sorted(d for d in os.listdir(where) if os.path.isdir(os.path.join(where, d)) and not d.startswith("."))
    if not classes:
        raise data_error(where, "has no class folders", _FIX)
    out = {}
    for name in classes:
        files = sorted(
            os.path.join(where, name, f)
            for f in os.listdir(os.path.join(where, name))
            if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")
        )
        if not files:
            raise data_error(os.path.join(where, name), "class folder holds no PNG or JPEG image", _FIX)
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


def read(root: str, image_size: int) -> Splits:
    """The splits of the folder at (absolute) `root`: classes are train's folder names in sorted order,
    examples in (class, file name) order. Images must share one size unless image_size (> 0) brings each to
    image_size x image_size; grey images become RGB when others are colour."""
    if not os.path.isdir(root):
        raise data_error(root, "folder not found", "pass --dataset=folder:PATH of an existing folder")
    listing = {split: _list_folder(root, split) for split in SPLITS}
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
    for split in SPLITS:
        decoded[split] = [
            (path, names.index(name), _decode(path)) for name, paths in listing[split].items() for path in paths
        ]
    colour = any(x.shape[-1] == 3 for split in decoded.values() for _, _, x in split)
    out = []
    first_path, first_shape = None, None
    for split in SPLITS:
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
        out.append(RawSplit(images, labels))
    return Splits(out[0], out[1], len(names), origin=f"folder:{root}", class_names=names)
