"""How images of any size are brought to one --image_size: the shorter side scaled to the size (bilinear,
antialiased), then the central square kept, back to uint8. Used where a source's images differ in size (image
folders, tfds sets such as imagenet2012) or when --image_size asks for another size."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

_CHUNK = 1024  # images resized at a time when they share one size


def to_square(images: tf.Tensor, size: int) -> tf.Tensor:
    """uint8 images [H, W, C] or [N, H, W, C] (one size) as uint8 [..., size, size, C]."""
    shape = tf.cast(tf.shape(images)[-3:-1], tf.float32)
    scaled = tf.cast(tf.maximum(tf.round(shape * (size / tf.reduce_min(shape))), size), tf.int32)
    resized = tf.image.resize(images, scaled, method="bilinear", antialias=True)
    square = tf.image.resize_with_crop_or_pad(resized, size, size)
    return tf.cast(tf.clip_by_value(tf.round(square), 0, 255), tf.uint8)


def all_to_square(images, size: int) -> np.ndarray:
    """Every image (an array [N, H, W, C], or a non-empty list of [H, W, C] of any sizes) as uint8
    [N, size, size, C]."""
    with tf.device("/CPU:0"):
        if isinstance(images, np.ndarray):
            return np.concatenate(
                [to_square(images[i : i + _CHUNK], size).numpy() for i in range(0, max(len(images), 1), _CHUNK)]
            )
        return np.stack([to_square(tf.convert_to_tensor(x), size).numpy() for x in images])
