"""Generalization measures against independent computations on tiny nets."""

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from rethink_tf import measures, models
from rethink_tf.models import inception


def circular_conv(x, kernel):
    """y[p, q] = sum_{a, b} x[(p + a) mod h, (q + b) mod w] @ kernel[a, b]: the operator, written out."""
    kh, kw = kernel.shape[:2]
    return sum(np.roll(x, (-a, -b), axis=(0, 1)) @ kernel[a, b] for a in range(kh) for b in range(kw))


def circular_conv_transposed(y, kernel):
    kh, kw = kernel.shape[:2]
    return sum(np.roll(y @ kernel[a, b].T, (a, b), axis=(0, 1)) for a in range(kh) for b in range(kw))


def test_conv_spectral_norm_is_the_largest_singular_value_of_the_operator_and_of_power_iteration():
    rng = np.random.default_rng(0)
    kernel, (h, w) = rng.normal(size=(3, 3, 2, 3)), (5, 4)
    # The operator as a matrix: its columns are the images of the basis vectors.
    basis = np.eye(h * w * 2).reshape(-1, h, w, 2)
    matrix = np.stack([circular_conv(e, kernel).ravel() for e in basis], axis=1)
    exact = np.linalg.svd(matrix, compute_uv=False)[0]
    # Power iteration on A^T A, the operator applied without its matrix.
    x = rng.normal(size=(h, w, 2))
    for _ in range(500):
        x = circular_conv_transposed(circular_conv(x, kernel), kernel)
        x /= np.linalg.norm(x)
    iterated = np.linalg.norm(circular_conv(x, kernel))
    fft = measures.conv_spectral_norm(kernel, (h, w))
    assert fft == pytest.approx(exact, rel=1e-10) and iterated == pytest.approx(exact, rel=1e-6)


def test_dense_spectral_norm_and_frobenius_products_against_numpy():
    rng = np.random.default_rng(1)
    layers = [measures.WeightLayer(f"d{i}", rng.normal(size=shape), None) for i, shape in enumerate([(6, 4), (4, 3)])]
    svd = [np.linalg.svd(w.kernel, compute_uv=False)[0] for w in layers]
    assert [measures.spectral_norm(w) for w in layers] == pytest.approx(svd)
    assert measures.log_spectral_product(layers) == pytest.approx(np.log(np.prod(np.square(svd))))
    fro = [np.sum(w.kernel**2) for w in layers]
    assert measures.param_norm(layers) == pytest.approx(sum(fro))
    assert measures.log_frobenius_product(layers) == pytest.approx(np.log(fro[0] * fro[1]))
    assert measures.log_sum_of_frobenius(layers) == pytest.approx(np.log(2 * np.sqrt(fro[0] * fro[1])))


def test_sum_of_frobenius_is_jiangs_eq_39_not_the_param_norm_on_a_two_layer_net_by_hand():
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(2, activation="relu", name="h")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="o")(hidden))
    w1, w2 = np.array([[1.0, 2.0], [2.0, 0.0]]), np.array([[2.0], [0.0]])  # ||W_1||_F^2 = 9, ||W_2||_F^2 = 4
    model.set_weights([w1, np.zeros(2), w2, np.zeros(1)])
    layers = measures.weight_layers(model)
    # Eq. 39: log(d (prod_i ||W_i||_F^2)^(1/d)) = log(2 sqrt(9 * 4)) = log 12; eq. 42, the param norm: 9 + 4.
    assert measures.log_sum_of_frobenius(layers) == pytest.approx(np.log(12.0))
    assert measures.param_norm(layers) == pytest.approx(13.0)
    # The same function with the hidden layer scaled by 2 and the output by 1/2 (ReLU is positively homogeneous):
    # eq. 39 is unchanged, the param norm is not (36 + 1), so the two rank nets differently.
    x = np.array([[1.0, -0.5], [0.3, 2.0]], np.float32)
    before = np.asarray(model(x))
    model.set_weights([2 * w1, np.zeros(2), w2 / 2, np.zeros(1)])
    np.testing.assert_allclose(np.asarray(model(x)), before, rtol=1e-6)
    layers = measures.weight_layers(model)
    assert measures.log_sum_of_frobenius(layers) == pytest.approx(np.log(12.0))
    assert measures.param_norm(layers) == pytest.approx(37.0)
    # Across depths: three layers of squared norm 4.2 have the smaller param norm (12.6 against 13) and the larger
    # eq. 39 (log(3 * 4.2) = log 12.6 against log 12): the two measures rank these nets in opposite orders.
    deep = [measures.WeightLayer(f"l{i}", np.full((2, 2), np.sqrt(4.2 / 4)), None) for i in range(3)]
    assert measures.param_norm(deep) == pytest.approx(12.6) and measures.param_norm(deep) < 13.0
    assert measures.log_sum_of_frobenius(deep) == pytest.approx(np.log(12.6))
    assert measures.log_sum_of_frobenius(deep) > np.log(12.0)


def test_batch_norm_folded_into_its_conv_predicts_as_the_net_does():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(scale=False, name="bn")(x)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(3, name="dense")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    bn = model.get_layer("bn")
    rng = np.random.default_rng(2)
    bn.beta.assign(rng.normal(size=4))
    bn.moving_mean.assign(rng.normal(size=4))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=4))
    images = rng.normal(size=(5, 6, 6, 2)).astype(np.float32)
    conv, head = measures.weight_layers(model)
    assert conv.name == "conv" and conv.input_hw == (6, 6) and head.bias is not None
    hidden = tf.nn.relu(tf.nn.conv2d(images.astype(np.float64), conv.kernel, 1, "SAME") + conv.bias)
    manual = tf.reshape(hidden, (5, -1)).numpy() @ head.kernel + head.bias
    np.testing.assert_allclose(manual, model(images, training=False).numpy(), rtol=1e-4, atol=1e-5)


def test_a_batch_norm_after_a_nonlinearity_is_not_folded():
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(x))
    with pytest.raises(ValueError, match="bn follows conv, not a linear conv or dense layer"):
        measures.weight_layers(model)


@pytest.mark.parametrize("name", ["inception_small", "alexnet_small", "mlp_1x512", "mlp_3x512"])
def test_every_laptop_model_gives_its_layers_and_finite_measures(name):
    model = models.build_model(name, input_shape=(28, 28, 3), num_classes=10, seed=0)
    layers = measures.weight_layers(model)
    kernels = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(layers) >= len(kernels) and layers[-1].kernel.shape[-1] == 10
    assert measures.param_count(model) == models.published_param_count(name, (28, 28, 3), 10)  # the paper's
    assert np.isfinite(measures.log_frobenius_product(layers)) and measures.param_norm(layers) > 0
    if name != "inception_small":  # its 19 convs' spectral norms take 12 s; the method is tested above
        assert np.isfinite(measures.log_spectral_product(layers))
    assert measures.distance_from_init(layers, layers) == 0.0


def test_distance_from_init_is_the_frobenius_norm_of_the_change():
    rng = np.random.default_rng(3)
    before = [
        measures.WeightLayer("a", rng.normal(size=(3, 2)), None),
        measures.WeightLayer("b", np.ones((2, 2)), None),
    ]
    delta = rng.normal(size=(3, 2))
    after = [measures.WeightLayer("a", before[0].kernel + delta, None), before[1]]
    assert measures.distance_from_init(after, before) == pytest.approx(np.linalg.norm(delta))
    with pytest.raises(ValueError, match="another architecture"):
        measures.distance_from_init(after, after[:1])


def test_margins_on_constructed_logits():
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5], [1.0, 1.0, -1.0]])
    labels = np.array([0, 1, 2])
    assert measures.margins(logits, labels).tolist() == [2.0, -0.5, -2.0]
    assert measures.output_margin(logits, labels, percentile=50) == -0.5
    assert measures.over_margin(3.0, 2.0) == pytest.approx(3.0 - 2 * np.log(2.0))
    assert measures.inverse_margin(2.0) == 0.25


def test_a_margin_at_or_below_zero_is_read_as_jiangs_formulas_read_it():
    # Jiang et al.'s eq. 22 is 1 / gamma^2 and their over-margin measures divide by gamma^2: a 10th-percentile
    # margin below zero (over 10% of the training set misclassified) counts by its size, as |gamma|.
    assert measures.inverse_margin(-0.5) == measures.inverse_margin(0.5) == 4.0
    assert measures.over_margin(3.0, -0.5) == pytest.approx(3.0 - 2 * np.log(0.5))
    assert measures.inverse_margin(0.0) == measures.over_margin(3.0, 0.0) == float("inf")
    # Where that disagrees with ranking the margin negated: gamma = -2 against gamma = 0.5. Negated, the first is
    # the more complex (2 > -0.5); by 1 / gamma^2 the second is (4 > 0.25).
    negated = [-g for g in (-2.0, 0.5)]
    inverse = [measures.inverse_margin(g) for g in (-2.0, 0.5)]
    assert negated[0] > negated[1] and inverse[0] < inverse[1]
    # of_net's margin measures on logits whose 10th-percentile margin is negative: all finite.
    logits = np.array([[0.0, 1.0]] * 3 + [[2.0, 0.0]] * 7)
    gamma = measures.output_margin(logits, np.zeros(10, np.int64))
    assert gamma == pytest.approx(-1.0) and measures.inverse_margin(gamma) == 1.0


def test_kendall_tau_is_jiangs_eq_3_tau_a_on_hand_worked_examples():
    assert measures.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # 5 concordant, 1 discordant
    assert measures.kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    # Ties: of 6 pairs, 4 concordant, one tied in x, one tied in y. Eq. 3 (tau-a) keeps the tied pairs in its
    # denominator: 4 / 6. Tau-b (scipy's default) would leave them out: 4 / sqrt(5 * 5) = 0.8.
    x, y = [1, 2, 2, 3], [1, 2, 3, 3]
    assert measures.kendall_tau(x, y) == pytest.approx(4 / 6)
    assert scipy.stats.kendalltau(x, y).statistic == pytest.approx(0.8)
    # Without ties the two are one number.
    assert measures.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(
        scipy.stats.kendalltau([1, 2, 3, 4], [1, 3, 2, 4]).statistic
    )
    assert measures.kendall_tau([1, 1, 1], [1, 2, 3]) == 0.0  # every pair tied: no evidence either way
    assert measures.kendall_tau([np.inf, np.inf, 1], [3, 2, 1]) == pytest.approx(2 / 3)  # equal infinities tie
    assert np.isnan(measures.kendall_tau([1], [1]))


def test_path_norm_of_a_two_layer_net_by_hand():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(3, activation="relu", bias_initializer="random_normal", name="h")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, bias_initializer="random_normal", name="o")(hidden))
    w1, b1, w2, b2 = (np.asarray(v, np.float64) for v in model.get_weights())
    # Every path input i -> hidden j -> output k contributes w1[i, j]^2 w2[j, k]^2; the biases start paths.
    by_hand = sum(w1[i, j] ** 2 * w2[j, k] ** 2 for i in range(5) for j in range(3) for k in range(2))
    by_hand += sum(b1[j] ** 2 * w2[j, k] ** 2 for j in range(3) for k in range(2)) + np.sum(b2**2)
    assert measures.path_norm(model) == pytest.approx(by_hand, rel=1e-5)
    assert np.array_equal(model.get_weights()[0], w1.astype(np.float32))  # the net itself is left as it was


def test_path_norm_folds_batch_norm_as_the_folded_weights_say():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, use_bias=False, name="h")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(scale=False, name="bn")(x))
    model = keras.Model(inputs, keras.layers.Dense(2, name="o")(x))
    bn = model.get_layer("bn")
    rng = np.random.default_rng(6)
    bn.beta.assign(rng.normal(size=3))
    bn.moving_mean.assign(rng.normal(size=3))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=3))
    h, o = measures.weight_layers(model)
    by_hand = np.sum((h.kernel**2).sum(axis=0) @ o.kernel**2 + (h.bias**2) @ o.kernel**2 + o.bias**2)
    assert measures.path_norm(model) == pytest.approx(by_hand, rel=1e-5)


def test_path_norm_of_the_papers_mlp_by_hand():
    model = models.build_model("mlp_1x512", input_shape=(28, 28, 3), num_classes=10, seed=0)
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])  # biases too
    h, o = measures.weight_layers(model)
    by_hand = np.sum(((h.kernel**2).sum(axis=0) + h.bias**2) @ o.kernel**2 + o.bias**2)
    assert measures.path_norm(model) == pytest.approx(by_hand, rel=1e-5)


def test_path_norm_of_inception_is_a_function_of_the_net_not_of_its_scaling():
    # Scaling a ReLU layer's weights by c and the next layer's kernel by 1/c leaves the function and its path
    # norm unchanged (the reason for the measure); scaling the logits by 2 scales f_{w^2}(1), so the norm, by 4.
    model = models.build_model("inception_small", input_shape=(28, 28, 3), num_classes=10, seed=0, batch_norm=False)
    images = np.random.default_rng(2).normal(size=(2, 28, 28, 3)).astype(np.float32)
    norm, logits = measures.path_norm(model), np.asarray(model(images))
    last = f"inception{sum(kind == 'inc' for kind, _ in inception.BLOCKS)}"  # feeds the global pool and logits
    for branch in ("1x1", "3x3"):
        conv = model.get_layer(f"{last}_{branch}_conv")
        conv.kernel.assign(conv.kernel * 3.0)
        conv.bias.assign(conv.bias * 3.0)
    model.get_layer("logits").kernel.assign(model.get_layer("logits").kernel / 3.0)
    np.testing.assert_allclose(np.asarray(model(images)), logits, rtol=1e-4, atol=1e-5)
    assert measures.path_norm(model) == pytest.approx(norm, rel=1e-4)
    out = model.get_layer("logits")
    out.kernel.assign(out.kernel * 2.0)
    out.bias.assign(out.bias * 2.0)
    assert measures.path_norm(model) == pytest.approx(4 * norm, rel=1e-4)


def test_sharpness_search_finds_the_edge_of_a_step_and_of_a_steady_decline():
    edge = measures.sharpness_sigma(lambda s: 1.0 if s < 0.37 else 0.5, 1.0, steps=20)
    assert 0.37 * (1 - 1e-5) < edge < 0.37
    # Accuracy falling by 0.5 per unit of sigma: within 0.1 up to sigma = 0.2.
    assert measures.sharpness_sigma(lambda s: 1.0 - 0.5 * s, 1.0, steps=20) == pytest.approx(0.2, rel=1e-4)
    assert measures.sharpness_sigma(lambda s: 1.0, 1.0) == float("inf")


def test_magnitude_aware_noise_has_jiangs_variance():
    w = np.array([0.0, 1e-3, 0.5, -2.0])
    # Eq. 61's noise has variance sigma^2 w^2 + epsilon^2: epsilon where w = 0, sqrt(2) epsilon where sigma |w| =
    # epsilon (0.5's sigma |w| + epsilon gave 2 epsilon there), nearly sigma |w| for large w.
    scale = measures.noise_scale(w, 1.0, magnitude_aware=True, epsilon=1e-3)
    np.testing.assert_allclose(scale, [1e-3, np.sqrt(2) * 1e-3, np.sqrt(0.25 + 1e-6), np.sqrt(4 + 1e-6)])
    assert measures.noise_scale(w, 0.3) == 0.3


def test_weight_noise_lowers_accuracy_with_sigma_and_leaves_the_net_as_it_was():
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    images = rng.normal(size=(64, 6)).astype(np.float32)
    labels = (images[:, 0] > 0).astype(np.int64)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(16, activation="relu")(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(images, labels, epochs=60, batch_size=16, verbose=0)
    before = [np.array(w) for w in model.get_weights()]
    base = measures.perturbed_accuracy(model, images, labels, 0.0)
    assert base >= 0.95
    drops = [base - measures.perturbed_accuracy(model, images, labels, s, draws=4) for s in (0.01, 0.1, 0.3, 1.0)]
    assert drops == sorted(drops) and drops[0] <= 0.05 and drops[-1] >= 0.2  # it grows until chance
    assert abs(measures.perturbed_accuracy(model, images, labels, 30.0, draws=4) - 0.5) < 0.15
    for aware in (False, True):
        sigma = measures.sharpness_sigma(
            lambda s, aware=aware: measures.perturbed_accuracy(model, images, labels, s, magnitude_aware=aware),
            base,
            start=0.05,
            steps=4,
        )
        assert 0 < sigma < np.inf
        assert base - measures.perturbed_accuracy(model, images, labels, sigma, magnitude_aware=aware) <= 0.1
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_weight_noise_drawn_once_for_every_sigma_gives_the_numbers_of_each_drawn_anew():
    # of_net's searches keep each draw's z in one dict across sigmas (measures.perturbed_accuracy's `noise`): the
    # accuracies are those of w + scale z computed as written, with z drawn from (seed, draw) at every call.
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    images = rng.normal(size=(200, 6)).astype(np.float32)
    labels = (images[:, 0] + images[:, 1] > 0).astype(np.int64)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(16, activation="relu")(inputs)))
    originals = [v.numpy() for v in model.trainable_weights]

    def by_hand(sigma, aware, seed=5, draws=2):
        accuracies = []
        for d in range(draws):
            draw = np.random.default_rng([seed, d])
            for v, w in zip(model.trainable_weights, originals):
                scale = measures.noise_scale(w, sigma, magnitude_aware=aware)
                v.assign((w + scale * draw.standard_normal(w.shape)).astype(w.dtype))
            accuracies.append(np.mean(np.argmax(measures.logits(model, images), axis=1) == labels))
        for v, w in zip(model.trainable_weights, originals):
            v.assign(w)
        return float(np.mean(accuracies))

    noise = {}
    for aware in (False, True):
        for sigma in (0.05, 0.3, 1.0, 0.3):
            kept = measures.perturbed_accuracy(
                model, images, labels, sigma, draws=2, seed=5, magnitude_aware=aware, noise=noise
            )
            anew = measures.perturbed_accuracy(model, images, labels, sigma, draws=2, seed=5, magnitude_aware=aware)
            assert kept == anew == by_hand(sigma, aware)
    assert sorted(noise) == [(5, 0), (5, 1)]
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(originals, model.trainable_weights))


def test_a_search_step_stopped_once_decided_finds_the_sigmas_of_every_image_and_draw_evaluated(monkeypatch):
    # of_net's searches only ask whether the accuracy drop stays within the tolerance: perturbed_accuracy's `decide`
    # stops the passes once the images and draws left cannot change that. Same sigmas, same measures, fewer passes.
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    images = rng.normal(size=(600, 6)).astype(np.float32)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    initial = keras.models.clone_model(model)
    labels = np.argmax(measures.logits(model, images), axis=1)
    labels[:30] = (labels[:30] + 1) % 3
    passes = []
    logits = measures.logits
    monkeypatch.setattr(measures, "logits", lambda *a, **k: passes.append(1) or logits(*a, **k))
    decided = measures.of_net(model, initial, images, labels, seed=2)
    early = len(passes)
    monkeypatch.setattr(measures, "_decided", lambda *args: None)  # every image of every draw, as before
    passes.clear()
    assert measures.of_net(model, initial, images, labels, seed=2) == decided
    assert early < len(passes)
    assert all(np.isfinite(s) for s in decided[1].values())
