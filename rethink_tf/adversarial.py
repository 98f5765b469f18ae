"""Adversarial training (Arpit et al. 2017, §5: dropout with adversarial training): in every training step a
fraction of the batch is replaced by its adversarial examples, found by the critical sample ratio's search
(rethink_tf.csr.search, Langevin adversarial sample search), and the loss weighs them against the clean rest.

The search runs on the whitened images the model reads (the training pipeline has no raw pixels left), in a
ball whose radius, step and noise are Arpit et al.'s (csr.ARPIT, raw pixels in [0, 1]) divided by the training
set's mean per-image standard deviation: per-image whitening divides an image by its own deviation, so a raw ball
of radius r is, to first order, a whitened ball of radius r / std (docs/csr.md). Its noise is seeded by (the run's
training seed, the optimizer's step count), both saved in a backup, so a resumed run finds the same examples.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from rethink_tf import csr


def pixel_scale(images: np.ndarray) -> float:
    """The mean over images of each image's pixel standard deviation, pixels in [0, 1], floored as
    tf.image.per_image_standardization floors it (1 / sqrt(pixels per image))."""
    x = np.asarray(images, np.float64)
    if np.issubdtype(np.asarray(images).dtype, np.integer):
        x = x / 255.0
    flat = x.reshape(len(x), -1)
    return float(np.mean(np.maximum(flat.std(axis=1), 1.0 / np.sqrt(flat.shape[1])))) if len(flat) else 1.0


def whitened_lass(scale: float) -> csr.Lass:
    """Arpit et al.'s search parameters in whitened units: radius, alpha and beta divided by `scale`."""
    a = csr.ARPIT
    return dataclasses.replace(a, radius=a.radius / scale, alpha=a.alpha / scale, beta=a.beta / scale)


def clean_and_adversarial_weights(batch: tf.Tensor, adversarial: tf.Tensor, weight: float) -> tf.Tensor:
    """Per-example sample weights for a batch whose first `adversarial` examples are adversarial: under Keras'
    mean over the batch, the loss is (1 - weight) * (mean over the clean) + weight * (mean over the adversarial)."""
    b = tf.cast(batch, tf.float32)
    n = tf.cast(adversarial, tf.float32)
    adv = tf.fill([adversarial], weight * b / tf.maximum(n, 1.0))
    clean = tf.fill([batch - adversarial], (1.0 - weight) * b / tf.maximum(b - n, 1.0))
    return tf.concat([adv, clean], 0)


class AdversarialTraining(keras.Model):
    """The run's model (the same layers and weights, so the same weight files) with a training step that replaces
    the first round(fraction * batch) examples of each batch by their adversarial examples, weighted `weight`
    against the clean rest's 1 - weight. Evaluation and prediction are the model's own."""

    def __init__(self, *args, weight: float, fraction: float, lass: csr.Lass, seed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.adversarial_weight, self.fraction, self.lass, self.seed = weight, fraction, lass, seed

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if sample_weight is not None:
            raise ValueError("adversarial training weighs the batch itself: no sample weights")
        batch = tf.shape(x)[0]
        n = tf.cast(tf.round(self.fraction * tf.cast(batch, tf.float32)), tf.int32)
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)])
        found = csr.search(
            self,
            x[:n],
            radius=self.lass.radius,
            alpha=self.lass.alpha,
            beta=self.lass.beta,
            iterations=self.lass.iterations,
            stop_below=self.lass.stop_below,
            seed=seed,
        )
        mixed = tf.concat([tf.stop_gradient(tf.cast(found.adversarial, x.dtype)), x[n:]], 0)
        return super().train_step((mixed, y, clean_and_adversarial_weights(batch, n, self.adversarial_weight)))


def wrap(model: keras.Model, *, weight: float, fraction: float, scale: float, seed: int) -> AdversarialTraining:
    """`model` as AdversarialTraining: a functional model over the same inputs, outputs and layers."""
    return AdversarialTraining(
        inputs=model.inputs,
        outputs=model.outputs,
        name=model.name,
        weight=weight,
        fraction=fraction,
        lass=whitened_lass(scale),
        seed=seed,
    )
