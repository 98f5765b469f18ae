"""The critical sample ratio (CSR) of Arpit et al. 2017 ("A closer look at memorization in deep networks", §4):
an input is critical when some input within the L-infinity ball of radius r around it is given another class,
searched for by their Langevin adversarial sample search (LASS); the CSR of a sample is its fraction of critical
inputs. docs/csr.md: the definition, how the radius maps through the per-image whitening, defaults and cost.

`search` is the search itself, a pure TensorFlow function of (model, inputs, radius, alpha, beta, iterations,
seed): eager or inside a tf.function (a train step's adversarial examples), the model always in inference mode
(BatchNorm's moving statistics, no dropout), its noise stateless and seeded (same seed, same bits; no random
stream of the run is drawn from). `of_sample` runs it over a fixed sample in fixed batches; `CriticalSampleRatio`
is the callback that records the curve; `sample` picks a run's fixed samples.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from rethink_tf.data import pipeline


@dataclasses.dataclass(frozen=True)
class Lass:
    """The search's parameters, radius, alpha and beta in the units of the searched inputs. ARPIT holds theirs
    (lass_tf.py's defaults, for pixels in [0, 1]): r = 0.3, alpha = 0.25, beta = 0.2 on the 0-255 scale, at most 100
    iterations, and their convergence rule: the search stops after an iteration that adds fewer than 20 critical
    inputs of the 500 searched (stop_below = 20 / 500 of the batch; 0: every input runs every iteration)."""

    radius: float
    alpha: float
    beta: float
    iterations: int
    stop_below: float = 0.0


ARPIT = Lass(radius=0.3 / 255, alpha=0.25 / 255, beta=0.2 / 255, iterations=100, stop_below=20 / 500)
# Inputs searched at once by of_sample: Arpit et al.'s 500, whose count of new critical inputs their convergence
# rule reads. The noise and the rule are per batch, so an input's search depends on its batch; of_sample always cuts
# a sample into the same batches.
BATCH = 500
# The second word of the noise's default seed pair: the CSR's own, met by none of the run's streams (all stateless).
_KEY = 4401
# Which fixed sample a curve searches: the second word of its seed pair.
TRAIN, TEST = 1, 2
# The record's epoch keys (and the TensorBoard tags' names, rethink_tf.summaries).
TRAIN_KEY, TEST_KEY = "csr_train", "csr_test"
SECONDS_KEY = "csr_seconds"  # what the two searches took (wall time), beside the record's epoch_time_s
INITIAL_KEY = "csr_initial"  # the record's key of the point before the first step: {TRAIN_KEY, TEST_KEY, SECONDS_KEY}


class Found(NamedTuple):
    """What `search` returns, batch-first but `steps`: the adversarial inputs (in the searched space: an input that
    flipped is the first point that did, else the last iterate), whether each flipped (its input is critical), the
    class of the clean input, after how many steps each flipped (0: it did not), and the steps the search took."""

    adversarial: tf.Tensor
    flipped: tf.Tensor
    predicted: tf.Tensor
    flipped_at: tf.Tensor
    steps: tf.Tensor


def seed_pair(seed) -> tf.Tensor:
    """A stateless seed pair: an integer s becomes (s, _KEY); a pair is kept."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    return tf.stack([seed, tf.constant(_KEY, tf.int64)]) if seed.shape.rank == 0 else seed


def search(
    model: Callable,
    inputs,
    *,
    radius,
    alpha,
    beta,
    iterations,
    seed,
    stop_below=0.0,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
) -> Found:
    """Arpit et al.'s Langevin adversarial sample search on a batch: from x' = x, at most `iterations` steps
    x' <- clip(x' + alpha * sign(grad) + beta * n, x - radius, x + radius), the gradient that of the cross-entropy
    of the clean input's predicted class at preprocess(x'), n standard normal noise. An input is done, its x'
    kept, as soon as its predicted class differs from the clean one. The search ends when every input is done, after
    `iterations` steps, or after a step that flipped fewer than stop_below * (batch size) inputs (their rule).

    inputs: the batch in the space the ball is taken in (for this package: raw center-cropped pixels in [0, 1]; no
    clipping to that range, as their code's default); preprocess maps it to what the model reads (whitening: see
    `whitening`), inside the loop so the gradient goes through it; None: the model reads the inputs. radius,
    alpha, beta: scalars, or tensors that broadcast against the batch (a radius per input). seed: an integer or a
    stateless seed pair; step i's noise is seeded by fold_in(seed pair, i). The model runs with training=False: no
    BatchNorm statistic changes and no random stream is drawn from. Usable eagerly or inside a tf.function (a train
    step's adversarial examples: one tf.while_loop, not an unrolled one). Cost: steps + 1 forward and backward
    passes of the batch, plus one forward pass.
    """
    x = tf.convert_to_tensor(inputs, tf.float32)
    prep = preprocess or (lambda t: t)
    radius, alpha, beta = (tf.cast(v, tf.float32) for v in (radius, alpha, beta))
    lower, upper = x - radius, x + radius
    base = seed_pair(seed)
    iterations = tf.cast(iterations, tf.int32)
    batch = tf.shape(x)[0]
    enough = tf.cast(stop_below, tf.float32) * tf.cast(batch, tf.float32)  # new flips a step needs to go on
    predicted = tf.argmax(model(prep(x), training=False), axis=-1)
    per_input = tf.concat([[batch], tf.ones([tf.rank(x) - 1], tf.int32)], 0)  # a [batch] flag against x's shape

    def step(steps, x_adv, flipped, flipped_at, _):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            logits = tf.cast(model(prep(x_adv), training=False), tf.float32)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=predicted, logits=logits))
        now = tf.logical_and(tf.logical_not(flipped), tf.not_equal(tf.argmax(logits, axis=-1), predicted))
        flipped_at = tf.where(now, steps, flipped_at)
        flipped = tf.logical_or(flipped, now)
        new = tf.reduce_sum(tf.cast(now, tf.float32))
        go_on = tf.logical_and(steps < iterations, tf.logical_not(tf.reduce_all(flipped)))
        go_on = tf.logical_and(go_on, tf.logical_or(tf.equal(steps, 0), new >= enough))
        noise = tf.random.stateless_normal(tf.shape(x), seed=tf.random.experimental.stateless_fold_in(base, steps))
        moved = tf.clip_by_value(x_adv + alpha * tf.sign(tape.gradient(loss, x_adv)) + beta * noise, lower, upper)
        move = tf.reshape(tf.logical_and(go_on, tf.logical_not(flipped)), per_input)
        return steps + tf.cast(go_on, tf.int32), tf.where(move, moved, x_adv), flipped, flipped_at, go_on

    no = tf.zeros([batch], tf.bool)
    start = (tf.constant(0, tf.int32), x, no, tf.zeros([batch], tf.int32), tf.constant(True))
    steps, x_adv, flipped, flipped_at, _ = tf.while_loop(lambda *state: state[-1], step, start)
    return Found(x_adv, flipped, predicted, flipped_at, steps)


def whitening(rgb: bool) -> Callable[[tf.Tensor], tf.Tensor]:
    """search's preprocess for the package's pipeline: center-cropped raw pixels to what the model reads (grayscale
    made RGB if the run asks, then per-image whitening), the very ops of rethink_tf.data.pipeline's evaluation."""
    return lambda images: pipeline._to_rgb_and_whiten(images, rgb)


def center_cropped(images: np.ndarray, config) -> np.ndarray:
    """The raw pixels the evaluation pipeline whitens: every image center-cropped as it crops them (zero-padded when
    smaller), by the pipeline's own crop size."""
    crop = pipeline._crop(config, images)
    with tf.device("/CPU:0"):
        return tf.image.resize_with_crop_or_pad(images, crop, crop).numpy()


_ATTRIBUTE = "_rethink_tf_searchers"


def searcher(model: keras.Model, rgb: bool, lass: Lass | None = None) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """search over the package's pipeline as one tf.function of (center-cropped raw pixels, seed pair) -> flipped,
    with `lass` (None: ARPIT); traced once per batch shape, and one per model, rgb and lass."""
    lass = lass or ARPIT
    # Kept on the model (past Keras' attribute tracking): a model kept across runs (rethink_tf.warm) keeps its
    # traced search too, and the search, which holds the model, goes when the model does.
    kept = model.__dict__.get(_ATTRIBUTE)
    if kept is None:
        kept = {}
        object.__setattr__(model, _ATTRIBUTE, kept)
    if (rgb, lass) not in kept:
        kept[(rgb, lass)] = _new_searcher(model, rgb, lass)
    return kept[(rgb, lass)]


def _new_searcher(model: keras.Model, rgb: bool, lass: Lass) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:

    def flipped(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        found = search(
            model,
            x,
            radius=lass.radius,
            alpha=lass.alpha,
            beta=lass.beta,
            iterations=lass.iterations,
            seed=seed,
            stop_below=lass.stop_below,
            preprocess=whitening(rgb),
        )
        return found.flipped

    return tf.function(flipped, reduce_retracing=True)


def of_sample(find: Callable, images: np.ndarray, seed, batch_size: int = BATCH) -> np.ndarray:
    """Which of `images` (center-cropped raw pixels) are critical, by `find` (a `searcher`) `batch_size` at a time;
    batch b's seed pair is fold_in(seed pair, b)."""
    base = seed_pair(seed)
    out = [
        find(tf.constant(images[i : i + batch_size]), tf.random.experimental.stateless_fold_in(base, b)).numpy()
        for b, i in enumerate(range(0, len(images), batch_size))
    ]
    return np.concatenate(out) if out else np.zeros(0, bool)


def ratio(flipped: np.ndarray) -> float:
    return float(np.mean(flipped)) if len(flipped) else float("nan")


def sample(split: pipeline.Split, size: int, seed: int, config) -> np.ndarray:
    """A fixed, class-stratified sample of `size` of the split's images (pipeline.stratified_subset by the labels
    as trained, seeded by `seed`), center-cropped as the run's evaluation sees them, raw pixels."""
    positions = pipeline.stratified_subset(split.labels, size, seed)
    return center_cropped(split.images[positions], config)


class CriticalSampleRatio(keras.callbacks.Callback):
    """The CSR of a fixed sample of the training set and of the test set into the epoch's logs (TRAIN_KEY,
    TEST_KEY, and the seconds it took, SECONDS_KEY), at the end of every `every`-th epoch and of the run's last (its
    epoch budget, or the one whose end stops training: place it after StopWhenFit); and, when `record` has no epoch
    yet, of the initial weights into record[INITIAL_KEY] (place it before the backup's restore), so a curve says
    whether the CSR rises from where training starts. A function of the weights and the seeds alone, so a resumed
    run records the same bits; it changes no weight, statistic or random stream of the run. Skipped when the loss
    is NaN."""

    def __init__(self, train_images, test_images, rgb: bool, every: int, max_epochs: int, seed: int, record=None):
        super().__init__()
        self.images = {TRAIN_KEY: (train_images, TRAIN), TEST_KEY: (test_images, TEST)}
        self.rgb, self.every, self.max_epochs, self.seed, self.record = rgb, every, max_epochs, seed, record
        self._find = None

    def _point(self) -> dict[str, float]:
        started = time.perf_counter()
        if self._find is None:
            self._find = searcher(self.model, self.rgb)
        point = {
            key: ratio(of_sample(self._find, images, (self.seed, which)))
            for key, (images, which) in self.images.items()
        }
        point[SECONDS_KEY] = time.perf_counter() - started  # its cost, the first time with its tracing
        return point

    def on_train_begin(self, logs=None):
        if self.record is not None and not self.record["epochs"] and INITIAL_KEY not in self.record:
            self.record[INITIAL_KEY] = self._point()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not np.isfinite(float(logs.get("loss", 0.0))):
            return
        if (epoch + 1) % self.every and epoch + 1 != self.max_epochs and not self.model.stop_training:
            return
        logs.update(self._point())
