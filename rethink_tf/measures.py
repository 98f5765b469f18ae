"""Generalization measures of a trained net: norms, margins and distances that the follow-up literature ranks
against the generalization gap (Neyshabur et al. 2017, "Exploring generalization in deep learning"; Jiang et
al. 2019, "Fantastic generalization measures and where to find them"). Formulas and sources: docs/measures.md.

Norm-based measures read the net's plain weights: `weight_layers` folds each BatchNorm (its moving statistics,
as the net predicts) into the convolution or dense layer that feeds it. Products of per-layer norms are
returned as logarithms, sums of per-layer logs: a product over many layers can leave float64's range.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np

from rethink_tf import models
from rethink_tf.models import dense


@dataclasses.dataclass(frozen=True)
class WeightLayer:
    """One conv or dense layer's weights as the net applies them, BatchNorm folded in.

    kernel: conv [kh, kw, in, out], dense [in, out]; input_hw: a conv's input height and width."""

    name: str
    kernel: np.ndarray
    bias: np.ndarray | None
    input_hw: tuple[int, int] | None = None

    @property
    def is_conv(self) -> bool:
        return self.kernel.ndim == 4


def flat_layers(model: keras.Model):
    """Every layer of the model in order, the layers of nested models (Keras' InceptionV3) in their place."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from flat_layers(layer)
        else:
            yield layer


def _source(layer: keras.layers.Layer):
    """The layer whose output is this layer's input."""
    return layer.input._keras_history.operation


def _folds(leaves: list) -> dict[str, keras.layers.BatchNormalization]:
    """Layer name -> the BatchNormalization its output feeds, for every BatchNormalization."""
    folds = {}
    for layer in leaves:
        if isinstance(layer, keras.layers.BatchNormalization):
            src = _source(layer)
            linear = getattr(src, "activation", None) in (None, keras.activations.linear)
            if not isinstance(src, (keras.layers.Conv2D, keras.layers.Dense, dense.Dense)) or not linear:
                raise ValueError(f"{layer.name} follows {src.name}, not a linear conv or dense layer: cannot fold it")
            folds[src.name] = layer
    return folds


def weight_layers(model: keras.Model) -> list[WeightLayer]:
    """The conv and dense layers of `model` in order, each BatchNormalization folded into the layer feeding it:
    BN(Wx + b) = (W s) x + (b - mean) s + beta with s = gamma / sqrt(var + eps)."""
    leaves = list(flat_layers(model))
    folds = _folds(leaves)
    out = []
    for layer in leaves:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, input_hw = np.asarray(layer.kernel, np.float64), tuple(int(d) for d in layer.input.shape[1:3])
        elif isinstance(layer, keras.layers.Dense):
            kernel, input_hw = np.asarray(layer.kernel, np.float64), None
        elif isinstance(layer, dense.Dense):  # stored [units, inputs]
            kernel, input_hw = np.asarray(layer.kernel, np.float64).T, None
        else:
            continue
        bias = np.asarray(layer.bias, np.float64) if getattr(layer, "bias", None) is not None else None
        bn = folds.get(layer.name)
        if bn is not None:
            var = np.asarray(bn.moving_variance, np.float64)
            scale = (np.asarray(bn.gamma, np.float64) if bn.scale else 1.0) / np.sqrt(var + bn.epsilon)
            shift = np.asarray(bn.beta, np.float64) if bn.center else 0.0
            mean = np.asarray(bn.moving_mean, np.float64)
            kernel = kernel * scale  # over the output channels, the last axis
            bias = ((0.0 if bias is None else bias) - mean) * scale + shift
        out.append(WeightLayer(layer.name, kernel, bias, input_hw))
    return out


def param_count(model: keras.Model) -> int:
    """Trainable parameters: the measure that depends on the architecture alone (the paper's point)."""
    return models.paper_param_count(model)


def param_norm(layers: list[WeightLayer]) -> float:
    """sum_i ||W_i||_F^2, the squared l2 norm of every kernel (Jiang et al. 2019, "param-norm", their eq. 42)."""
    return float(sum(np.sum(w.kernel**2) for w in layers))


def log_frobenius_product(layers: list[WeightLayer]) -> float:
    """log prod_i ||W_i||_F^2 (Jiang et al. 2019, "prod-of-fro", their eq. 37)."""
    return float(sum(np.log(np.sum(w.kernel**2)) for w in layers))


def log_sum_of_frobenius(layers: list[WeightLayer]) -> float:
    """log(d (prod_i ||W_i||_F^2)^(1/d)) over the d layers (Jiang et al. 2019, "sum-of-fro", their eq. 39): d times
    the geometric mean of the squared norms, the smallest sum of squared norms of a net rescaled layer by layer
    into the same function (ReLUs are positively homogeneous). log d + log_frobenius_product / d."""
    return float(np.log(len(layers)) + log_frobenius_product(layers) / len(layers))


def conv_spectral_norm(kernel: np.ndarray, input_hw: tuple[int, int]) -> float:
    """The largest singular value of the convolution with `kernel` [kh, kw, in, out] on inputs of input_hw,
    wrapped around at the borders, by Sedghi, Gupta and Long (2019, "The singular values of convolutional
    layers"): it is the largest over the 2-D DFT frequencies of the [in, out] matrices of the kernel's DFT.
    For zero padding and strides above 1 it is the bound the literature uses."""
    h, w = input_hw
    kh, kw = kernel.shape[:2]
    if kh > h or kw > w:  # a kernel wider than its input: pad the input, whose norm is the same
        h, w = max(h, kh), max(w, kw)
    # A real kernel's DFT at frequency -f is the conjugate of that at f, with the same singular values: the
    # half spectrum (rfft2) holds them all.
    transfer = np.fft.rfft2(kernel, s=(h, w), axes=(0, 1))
    return float(np.max(np.linalg.svd(transfer, compute_uv=False)))


def spectral_norm(layer: WeightLayer) -> float:
    """||W||_2: exact for dense layers (an SVD), by conv_spectral_norm for convolutions."""
    if layer.is_conv:
        return conv_spectral_norm(layer.kernel, layer.input_hw)
    return float(np.linalg.norm(layer.kernel, 2))


def log_spectral_product(layers: list[WeightLayer]) -> float:
    """log prod_i ||W_i||_2^2 (Jiang et al. 2019, "prod-of-spec"; Bartlett et al. 2017's leading factor)."""
    return float(sum(2.0 * np.log(spectral_norm(w)) for w in layers))


def path_norm(model: keras.Model) -> float:
    """sum of f_{w^2}(1): the net with every folded weight and bias squared, applied to an all-ones input, its
    outputs summed (Neyshabur et al. 2015; Jiang et al. 2019, "path-norm"). With ReLUs and max pooling only,
    it is the sum over input-output paths of the product of squared weights; through AlexNet-small's local
    response normalization it is the squared net's output, no longer a sum over paths."""
    squared = keras.models.clone_model(model)
    squared.set_weights(model.get_weights())
    leaves = {layer.name: layer for layer in flat_layers(squared)}
    folds = _folds(list(leaves.values()))
    for w in weight_layers(model):
        layer = leaves[w.name]
        layer.kernel.assign((w.kernel.T if isinstance(layer, dense.Dense) else w.kernel) ** 2)
        bias = np.zeros(w.kernel.shape[-1]) if w.bias is None else w.bias**2
        bn = folds.get(w.name)
        if bn is not None:  # an identity plus the folded bias: BN(x) = (x - 0) / sqrt(1 - eps + eps) + beta
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(np.zeros_like(bias))
            bn.moving_mean.assign(np.zeros_like(bias))
            bn.moving_variance.assign(np.full_like(bias, 1.0 - bn.epsilon))
            if bn.scale:
                bn.gamma.assign(np.ones_like(bias))
            bn.beta.assign(bias)
        elif getattr(layer, "bias", None) is not None:
            layer.bias.assign(bias)
    ones = np.ones((1, *model.input_shape[1:]), np.float32)
    return float(np.sum(np.asarray(squared(ones, training=False), np.float64)))


def distance_from_init(layers: list[WeightLayer], initial: list[WeightLayer]) -> float:
    """sqrt(sum_i ||W_i - W_i^0||_F^2), the l2 distance of the kernels from their initial values (Nagarajan and
    Kolter 2019): the square root of Jiang et al. 2019's "frob-distance" (their eq. 40), which ranks the same."""
    if [w.kernel.shape for w in layers] != [w.kernel.shape for w in initial]:
        raise ValueError("the initial weights are of another architecture")
    return float(np.sqrt(sum(np.sum((w.kernel - w0.kernel) ** 2) for w, w0 in zip(layers, initial))))


def margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per example: the logit of its label minus the largest other logit (negative: misclassified)."""
    logits = np.asarray(logits, np.float64)
    rows = np.arange(len(labels))
    correct = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    return correct - others.max(axis=1)


def output_margin(logits: np.ndarray, labels: np.ndarray, percentile: float = 10.0) -> float:
    """A low percentile of the margins on the training set (Jiang et al. 2019 use the 10th: robust to the few
    examples a net gets wrong)."""
    return float(np.percentile(margins(logits, labels), percentile))


def inverse_margin(margin: float) -> float:
    """1 / gamma^2 (Jiang et al. 2019, "inverse-margin", their eq. 22) of the 10th-percentile margin gamma. Their
    nets fit their training sets (cross-entropy 0.01), so gamma > 0 there; where it is not (a net that
    misclassifies over 10% of its training set), the square reads |gamma|, as the formula does and as Jiang et
    al.'s measures are ported by nitarshan/robust-generalization-measures: a gamma of -0.5 ranks as +0.5 does.
    inf at gamma = 0."""
    return float(1.0 / np.float64(margin) ** 2) if margin != 0 else float("inf")


def over_margin(log_product: float, margin: float) -> float:
    """log(prod / gamma^2): a norm product normalized by the output margin (Bartlett et al. 2017; Jiang et al.
    2019, "prod-of-spec/margin" and "prod-of-fro/margin", their eqs. 31 and 36); gamma^2 reads |gamma| as in
    inverse_margin, inf at gamma = 0."""
    return float(log_product - 2.0 * np.log(abs(margin))) if margin != 0 else float("inf")


def logits(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The net's logits in inference mode, batch by batch (direct calls: model.predict's set-up per call cost
    more than a small net's whole pass, and the sharpness search calls it dozens of times)."""
    return np.concatenate(
        [np.asarray(model(images[i : i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    )


def sharpness_sigma(
    accuracy_at: Callable[[float], float], base: float, *, tolerance: float = 0.1, start: float = 1e-3, steps: int = 8
) -> float:
    """The largest noise scale sigma whose accuracy stays within `tolerance` of `base` (Keskar et al. 2017;
    Jiang et al. 2019's "pacbayes.flatness" is 1 / sigma^2, their eq. 53): sigma doubles from `start` until the
    drop exceeds the tolerance, then `steps` bisections; the drop is taken to grow with sigma. inf if it never
    exceeds it."""
    lo, hi = 0.0, start
    while base - accuracy_at(hi) <= tolerance:
        lo, hi = hi, 2.0 * hi
        if hi > 1e6:
            return float("inf")
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if base - accuracy_at(mid) <= tolerance else (lo, mid)
    return lo


def noise_scale(weights: np.ndarray, sigma: float, *, magnitude_aware: bool = False, epsilon: float = 1e-3):
    """The standard deviation of each weight's Gaussian noise: sigma, or with magnitude_aware
    sqrt(sigma^2 w^2 + epsilon^2), the variance sigma^2 |w|^2 + epsilon^2 of Jiang et al. 2019's
    "pacbayes.mag.flatness" (their eq. 61; 0.5 used sigma |w| + epsilon, up to twice as wide where the terms meet)."""
    if not magnitude_aware:
        return sigma
    return np.sqrt((sigma * np.asarray(weights, np.float64)) ** 2 + epsilon**2)


def perturbed_accuracy(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    sigma: float,
    *,
    draws: int = 3,
    seed: int = 0,
    magnitude_aware: bool = False,
    epsilon: float = 1e-3,
    batch_size: int = 256,
    noise: dict | None = None,
    decide: tuple[float, float] | None = None,
) -> float:
    """The mean accuracy over `draws` Gaussian perturbations of every trainable weight: w + sigma z, or with
    magnitude_aware w + sqrt(sigma^2 w^2 + epsilon^2) z (Jiang et al. 2019's magnitude-aware variant, noise of
    variance sigma^2 |w|^2 + epsilon^2). Draw d's z is the same for every sigma (seeded by (seed, d)), so the
    accuracy changes with sigma alone; the weights are restored afterwards. `noise`, a dict kept across calls on
    the same model, keeps each draw's z instead of drawing it again (a search calls this once per sigma, about ten
    times); the float64 arithmetic runs in buffers of its own, not fresh arrays per weight and draw: the same
    numbers either way. `decide` = (base, tolerance), for a search that only asks whether base - accuracy <=
    tolerance: the passes stop as soon as the images and draws left cannot change that answer, and the accuracy
    returned is then the bound that decided it (the mean as if every image left were right, or as if every one
    were wrong), on the same side of the tolerance as the mean, by at least _DECIDED (so that the search's float
    comparison gives the same answer as on the whole mean)."""
    variables = model.trainable_weights
    originals = [np.asarray(v) for v in variables]
    scales = [noise_scale(w, sigma, magnitude_aware=magnitude_aware, epsilon=epsilon) for w in originals]
    buffers = [np.empty(w.shape, np.float64) for w in originals]
    accuracies = []
    total, correct, seen = draws * len(labels), 0, 0
    try:
        for d in range(draws):
            zs = noise.get((seed, d)) if noise is not None else None
            if zs is None:
                rng = np.random.default_rng([seed, d])
                zs = [rng.standard_normal(w.shape) for w in originals]
                if noise is not None:
                    noise[(seed, d)] = zs
            for v, w, scale, z, buffer in zip(variables, originals, scales, zs, buffers):
                np.multiply(z, scale, out=buffer)
                np.add(buffer, w, out=buffer)  # w + scale z, w's float32 exact in float64
                v.assign(buffer.astype(w.dtype))
            hits = []
            for i in range(0, len(images), batch_size):
                batch = slice(i, i + batch_size)
                hits.append(np.argmax(logits(model, images[batch], batch_size), axis=1) == labels[batch])
                correct, seen = correct + int(np.sum(hits[-1])), seen + len(hits[-1])
                if decide is not None and seen < total:
                    bound = _decided(decide, correct, seen, total)
                    if bound is not None:
                        return bound
            accuracies.append(float(np.mean(np.concatenate(hits))) if hits else float("nan"))
    finally:
        for v, w in zip(variables, originals):
            v.assign(w)
    return float(np.mean(accuracies))


# How far a bound must clear the tolerance to decide a search step before its last image (decide, above): far
# more than the float error of base - mean, far less than one image of one draw's accuracy.
_DECIDED = 1e-9


def _decided(decide: tuple[float, float], correct: int, seen: int, total: int) -> float | None:
    """The bound on the mean accuracy of `total` image-draws that decides whether base - mean <= tolerance, given
    `correct` of the first `seen`; None while the rest can still change the answer."""
    base, tolerance = decide
    best, worst = (correct + total - seen) / total, correct / total
    if base - best > tolerance + _DECIDED:
        return best  # even if every image left is right, the drop exceeds the tolerance
    if base - worst <= tolerance - _DECIDED:
        return worst  # even if every image left is wrong, the drop stays within it
    return None


def kendall_tau(x, y) -> float:
    """Kendall's tau-a of two sequences, Jiang et al. 2019's eq. 3: (concordant - discordant pairs) / all n(n-1)/2
    pairs, so a pair tied in either sequence counts in the denominator and nowhere else (tau-b would leave it out
    of the denominator too, and rank a measure with ties higher than eq. 3 does); 0 when either sequence is
    constant, nan for fewer than two. Equal infinities tie."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) != len(y):
        raise ValueError(f"sequences of different lengths {len(x)} and {len(y)}")
    if len(x) < 2:
        return float("nan")
    x, y = np.unique(x, return_inverse=True)[1], np.unique(y, return_inverse=True)[1]  # ranks: inf - inf is no sign
    i, j = np.triu_indices(len(x), k=1)
    return float(np.sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])) / len(i))


# What a run record stores of a trained net, by key: (the HParams table's column, Jiang et al. 2019's name where
# the measure is theirs; +1 where a larger value is taken to predict a larger generalization gap, -1 where a
# smaller one does: the margin). Jiang et al. rank each measure against the gap in this orientation.
MEASURES = {
    "param_count": ("params", 1),
    "param_norm": ("param-norm", 1),
    "log_sum_of_frobenius": ("log sum-of-fro", 1),
    "log_frobenius_product": ("log prod-of-fro", 1),
    "log_spectral_product": ("log prod-of-spec", 1),
    "log_path_norm": ("log path-norm", 1),
    "distance_from_init": ("sqrt frob-distance", 1),
    "output_margin": ("margin", -1),
    "inverse_margin": ("inverse-margin", 1),
    "log_spectral_over_margin": ("log prod-of-spec/margin", 1),
    "log_frobenius_over_margin": ("log prod-of-fro/margin", 1),
    "sharpness": ("pacbayes.flatness", 1),
    "magnitude_sharpness": ("pacbayes.mag.flatness", 1),
    "critical_sample_ratio": ("CSR", 1),  # Arpit et al.'s, on a test sample: rethink_tf.csr, run_measures.add
}
# The sharpness search of every run (docs/measures.md gives what it costs and how far its sigma moves with the
# noise seed, measured by tools/sharpness_spread.py): fewer bisections than sharpness_sigma's default, so that the
# laptop grid's measures take minutes, not an hour; 4 draws, which halve 2 draws' spread of 1 / sigma^2 (0.5 had 2).
SHARPNESS = {"tolerance": 0.1, "start": 0.005, "steps": 5, "draws": 4}


def of_net(model: keras.Model, initial: keras.Model, images: np.ndarray, labels: np.ndarray, seed: int = 0):
    """Every measure of MEASURES for a trained net, given a net of the same architecture with its initial
    weights and its training data as trained (inputs as the net saw them, the labels it was trained on), and
    the two sharpness searches' sigmas: (measures, sigmas). Sharpness is 1 / sigma^2."""
    layers = weight_layers(model)
    log_fro, log_spec = log_frobenius_product(layers), log_spectral_product(layers)
    out = logits(model, images)
    margin = output_margin(out, labels)
    base = float(np.mean(np.argmax(out, axis=1) == labels))
    search = {k: v for k, v in SHARPNESS.items() if k != "draws"}
    # Each draw's z drawn once for both searches, where that fits in 512 MB: 4 draws of 8 bytes a weight
    # (Inception-small: 53 MB; Inception V3's 700 MB are drawn again at each sigma instead).
    noise = {} if param_count(model) * SHARPNESS["draws"] * 8 <= 2**29 else None
    sigmas = {
        key: sharpness_sigma(
            lambda s, aware=aware: perturbed_accuracy(
                model,
                images,
                labels,
                s,
                draws=SHARPNESS["draws"],
                seed=seed,
                magnitude_aware=aware,
                noise=noise,
                decide=(base, search["tolerance"]),
            ),
            base,
            **search,
        )
        for key, aware in (("sharpness", False), ("magnitude_sharpness", True))
    }
    with np.errstate(divide="ignore"):
        values = {
            "param_count": float(param_count(model)),
            "param_norm": param_norm(layers),
            "log_sum_of_frobenius": log_sum_of_frobenius(layers),
            "log_frobenius_product": log_fro,
            "log_spectral_product": log_spec,
            "log_path_norm": float(np.log(path_norm(model))),
            "distance_from_init": distance_from_init(layers, weight_layers(initial)),
            "output_margin": margin,
            "inverse_margin": inverse_margin(margin),
            "log_spectral_over_margin": over_margin(log_spec, margin),
            "log_frobenius_over_margin": over_margin(log_fro, margin),
            **{key: float(1.0 / np.float64(sigma) ** 2) for key, sigma in sigmas.items()},
        }
    return values, sigmas
