"""A tiny ImageNet in ILSVRC2012's own file format, for Table 2's smoke path: tfds' imagenet2012 builder prepares
it from --manual_dir exactly as it prepares the real tar files.

`python tools/tiny_imagenet.py --out=DIR` writes DIR/ILSVRC2012_img_train.tar (one nXXXXXXXX.tar of JPEGs per
synset) and DIR/ILSVRC2012_img_val.tar (ILSVRC2012_val_00000001.JPEG, ...). tfds labels the validation images
by its own validation_labels.txt in name order, so the first --val images take its first labels; the training
synsets are those labels' synsets. The pixels are Fashion-MNIST's (Debian's package), upscaled to RGB, one
Fashion-MNIST class per synset: real images, so true labels can be learned and random ones only memorized.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile

import numpy as np

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def _jpeg(image: np.ndarray, side: int) -> bytes:
    import tensorflow as tf

    rgb = tf.image.grayscale_to_rgb(tf.image.resize(image[..., None], (side, side)))
    return tf.io.encode_jpeg(tf.cast(tf.round(rgb), tf.uint8), quality=95).numpy()


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(payload), 0  # fixed mtime: the same flags give the same bytes
    tar.addfile(info, io.BytesIO(payload))


def write(out: str, *, val: int, train_per_class: int, side: int, idx_dir: str = FASHION_MNIST) -> tuple[int, int]:
    """The two tar files in `out`; returns (training images, validation images)."""
    import tensorflow_datasets as tfds

    from rethink_tf.data import sources

    images = sources.read_idx(os.path.join(idx_dir, "train-images-idx3-ubyte.gz"))
    labels = sources.read_idx(os.path.join(idx_dir, "train-labels-idx1-ubyte.gz"))
    names = os.fspath(tfds.core.tfds_path("datasets/imagenet2012/validation_labels.txt"))
    with open(names) as f:
        val_synsets = f.read().split()[:val]
    synsets = sorted(set(val_synsets))
    fashion = {s: np.flatnonzero(labels == k % 10) for k, s in enumerate(synsets)}  # a class's images, in order
    used = {s: 0 for s in synsets}

    def next_image(synset: str) -> bytes:
        i = fashion[synset][used[synset]]
        used[synset] += 1
        return _jpeg(images[i].astype(np.float32), side)

    os.makedirs(out, exist_ok=True)
    train_path = os.path.join(out, "ILSVRC2012_img_train.tar")
    with tarfile.open(train_path + ".tmp", "w") as train:
        for synset in synsets:
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as sub:
                for j in range(train_per_class):
                    _add(sub, f"{synset}_{j + 1}.JPEG", next_image(synset))
            _add(train, f"{synset}.tar", inner.getvalue())
    val_path = os.path.join(out, "ILSVRC2012_img_val.tar")
    with tarfile.open(val_path + ".tmp", "w") as tar:
        for j, synset in enumerate(val_synsets):
            _add(tar, f"ILSVRC2012_val_{j + 1:08d}.JPEG", next_image(synset))
    os.replace(train_path + ".tmp", train_path)
    os.replace(val_path + ".tmp", val_path)
    return len(synsets) * train_per_class, len(val_synsets)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the two tar files (--manual_dir of the runs)")
    parser.add_argument("--val", type=int, default=40, help="validation images (the first of tfds' labels)")
    parser.add_argument("--train_per_class", type=int, default=5, help="training images per synset")
    parser.add_argument("--side", type=int, default=96, help="the JPEGs' side in pixels")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz")):
        print(f"tiny_imagenet: Fashion-MNIST is missing ({FASHION_MNIST}); run `make data` first", file=sys.stderr)
        return 2
    n_train, n_val = write(args.out, val=args.val, train_per_class=args.train_per_class, side=args.side)
    print(f"tiny_imagenet: {n_train} training and {n_val} validation JPEGs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
