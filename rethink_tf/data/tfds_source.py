"""Any tensorflow_datasets image-classification set by name (`tfds:NAME[:CONFIG]`), its classes, image shape
and labels read from the builder's info; downloaded and prepared only when asked (--download).
A set is read into memory, as the built-in sets are: one that cannot fit is refused before it is read.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from rethink_tf.data.base import RawSplit, Splits, data_error, first_line

_CHUNK = 8192  # examples per batch when materializing a split


@contextlib.contextmanager
def quiet():
    """tfds' and TensorFlow's info lines off while a copy is read: a failure is then one line, the DataError."""
    from absl import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)


def prepare_fix(name: str, manual: bool) -> str:
    """How to bring a tfds set that is not prepared in the data dir."""
    if manual:
        return (
            f"tfds cannot download {name} itself: put its files (tfds' instructions: `tfds build {name}` prints "
            f"them) in a folder, pass --manual_dir=FOLDER --download to let tfds prepare it into --data_dir, or "
            f"prepare it elsewhere with `tfds build {name} --manual_dir=FOLDER --data_dir DIR` and pass --data_dir=DIR"
        )
    return (
        f"pass --download to let tfds download and prepare it into --data_dir (needs internet access), or prepare "
        f"it once on a machine with internet access with `tfds build {name} --data_dir DIR` (or copy a prepared "
        f"DIR/{name} directory here) and pass --data_dir=DIR"
    )


def available_memory() -> int | None:
    """Bytes of memory free for a new process (Linux' MemAvailable, else the physical total), None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_fits(where: str, split: str, examples: int, shape: tuple[int, ...], available: int | None) -> None:
    """DataError if a split's uint8 pixels alone (a lower bound: the run then copies its subset as float32)
    exceed the memory available, so that a set such as ImageNet fails at once instead of after an hour of
    decoding; the whole split is read before any --train_size subset is taken."""
    need = examples * int(np.prod(shape))
    if available is None or need <= available:
        return
    side = "x".join(str(d) for d in shape)
    raise data_error(
        where,
        f"split {split!r} is {examples:,} images of {side}: {need / 1e9:,.1f} GB in memory before anything else, "
        f"more than the {available / 1e9:,.1f} GB available (this version reads a whole split into memory)",
        "choose a smaller split (a tfds slice such as --train_split='train[:10%]'), a smaller --image_size, "
        "or a machine with more memory",
    )


def _builder(name: str, data_dir: str | None, where: str):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as err:  # DatasetNotFoundError, or a config the builder does not have
        first = first_line(err)
        raise data_error(
            where,
            f"tfds knows no data set {name!r} ({first})",
            "give a name of `tfds.list_builders()`, as tfds:NAME or tfds:NAME:CONFIG",
        ) from err


def _keys(info, where: str) -> tuple[str, str, tuple[int | None, ...], int, tuple[str, ...]]:
    """The image and label feature names, the image shape, the number of classes and their names."""
    import tensorflow_datasets as tfds

    keys = info.supervised_keys
    fix = "pick an image-classification set: its supervised keys must be an Image and a ClassLabel feature"
    if not keys or len(keys) != 2:
        raise data_error(where, "has no (image, label) supervised keys", fix)
    image_key, label_key = keys
    image, label = info.features[image_key], info.features[label_key]
    if not isinstance(image, tfds.features.Image) or not isinstance(label, tfds.features.ClassLabel):
        raise data_error(where, f"its supervised keys {keys} are not an image and a class label", fix)
    return image_key, label_key, tuple(image.shape), int(label.num_classes), tuple(label.names)


def read(
    name: str,
    *,
    data_dir: str | None,
    download: bool,
    manual_dir: str | None,
    splits: tuple[str, str],
    image_size: int,
) -> Splits:
    """The train and test splits (tfds split strings) of tfds set `name` ("NAME" or "NAME/CONFIG"), with the
    builder's number of classes and class names. Downloads and prepares only when `download`."""
    where = f"tfds:{name.replace('/', ':')} (data_dir={data_dir or 'tfds default'})"
    with quiet():
        import tensorflow_datasets as tfds

        builder = _builder(name, data_dir, where)
        image_key, label_key, shape, num_classes, names = _keys(builder.info, where)
        manual = bool(getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None))
        if download:
            config = tfds.download.DownloadConfig(manual_dir=manual_dir) if manual_dir else None
            try:
                builder.download_and_prepare(download_config=config)
            except Exception as err:  # network, manual files missing, checksum: tfds' errors vary
                first = first_line(err)
                bring = (
                    f"put the files tfds asks for in --manual_dir (now {manual_dir or 'unset'})"
                    if manual
                    else f"run `tfds build {name} --data_dir DIR` on a machine with internet access and copy "
                    f"DIR/{name.split('/')[0]} into --data_dir here"
                )
                raise data_error(
                    where, f"tfds could not download and prepare it ({type(err).__name__}: {first})", bring
                ) from err
        if None in shape[:2] and not image_size:
            raise data_error(
                where, f"its images differ in size ({shape})", "pass --image_size=S to bring each to S x S"
            )
        out = []
        pixels = (image_size, image_size, shape[2]) if image_size else shape  # of every image, as read
        for role, split in zip(("train", "test"), splits):
            try:  # the split's size is known once it is prepared (tfds accepts slices such as train[:10%])
                examples = builder.info.splits[split].num_examples
            except Exception:  # not prepared, an unknown split: reading it below says which, in one line
                examples = 0
            if examples and None not in pixels:
                check_fits(where, split, examples, pixels, available_memory())
            try:
                ds = builder.as_dataset(split=split, shuffle_files=False)
                images, labels = [], []
                if image_size:
                    ds = ds.map(lambda ex: {label_key: ex[label_key], image_key: _square(ex[image_key], image_size)})
                for batch in tfds.as_numpy(ds.batch(_CHUNK)):
                    labels.append(batch[label_key])
                    images.append(batch[image_key])
            except Exception as err:  # "not prepared" is an AssertionError, an unknown split a ValueError
                text, first = str(err).strip(), first_line(err)
                if (
                    "split" in text.lower()
                    and ("unknown" in text.lower() or "not" in text.lower())
                    and builder.info.splits
                ):
                    known = ", ".join(builder.info.splits)
                    flag = "--train_split" if role == "train" else "--test_split"
                    raise data_error(
                        where, f"has no split {split!r} ({first})", f"pass {flag}= one of {known}"
                    ) from err
                problem = (
                    "no prepared copy there"
                    if "could not find data" in text
                    else f"tfds could not read a prepared copy ({type(err).__name__}: {first})"
                )
                raise data_error(
                    where,
                    problem,
                    prepare_fix(name, manual),
                ) from err
            if not labels:
                raise data_error(where, f"split {split!r} is empty", f"pass --{role}_split= a split with examples")
            labels = np.concatenate(labels).astype(np.int64)
            if labels.min() < 0:
                raise data_error(
                    where,
                    f"split {split!r} has no labels (label {int(labels.min())})",
                    f"pass --{role}_split= a labelled split, e.g. validation",
                )
            out.append(RawSplit(np.concatenate(images), labels))
    origin = f"tfds:{name.replace('/', ':')} (data_dir={builder.data_dir}, splits {splits[0]} / {splits[1]})"
    return Splits(out[0], out[1], num_classes, origin, class_names=names)


def _square(image, size: int):
    from rethink_tf.data import resize

    return resize.to_square(image, size)
