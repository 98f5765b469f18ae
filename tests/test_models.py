"""Tests for rethink_tf.models: the paper's parameter counts, shapes, seeding, weight decay, registry errors."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized

from rethink_tf.models import MODELS, Dense, ModelSpec, build_model, paper_param_count
from rethink_tf.models.alexnet import LocalResponseNormalization

PAPER_SHAPE = (28, 28, 3)
NON_BN_MODELS = ("alexnet_small", "mlp_1x512", "mlp_3x512")


def _kernels(model):
    return [w for w in model.trainable_weights if "kernel" in w.path]


class ModelsTest(parameterized.TestCase):
    def test_registry(self):
        table1 = ("inception_small", "alexnet_small", "mlp_1x512", "mlp_3x512")
        self.assertEqual(tuple(MODELS), table1 + ("inception_v3",))
        for key, spec in MODELS.items():
            self.assertIsInstance(spec, ModelSpec)
            self.assertEqual(spec.name, key)
            self.assertEqual(spec.has_batch_norm, key == "inception_small")
            self.assertEqual(spec.has_noise, key != "inception_v3")
            if key in table1:
                self.assertEqual(spec.default_learning_rate, 0.1 if key == "inception_small" else 0.01)
                self.assertEqual(spec.default_weight_decay, 5e-4)
                self.assertEqual((spec.paper_input, spec.paper_classes), ((28, 28, 3), 10))
        self.assertEqual(
            [s.paper_name for s in MODELS.values()], ["Inception", "AlexNet", "MLP 1x512", "MLP 3x512", "Inception V3"]
        )

    def test_inception_v3_is_keras_own_with_seeded_weights_dropout_and_decay(self):
        model = build_model("inception_v3", input_shape=(75, 75, 3), num_classes=7, dropout=0.2, weight_decay=4e-5)
        again = build_model("inception_v3", input_shape=(75, 75, 3), num_classes=7)
        self.assertEqual(paper_param_count(model), 21_768_352 + 2048 * 7 + 7)  # Keras InceptionV3 without top + logits
        self.assertTrue(any(isinstance(l, keras.layers.Dropout) for l in model.layers))
        self.assertEqual(len(model.losses), 95)  # L2 on the 94 conv kernels and the logits
        for a, b in zip(model.get_weights(), again.get_weights()):  # the same seed: the same initial weights
            np.testing.assert_array_equal(a, b)
        with self.assertRaisesRegex(ValueError, "at least 75x75|should not be smaller than 75"):
            build_model("inception_v3", input_shape=(32, 32, 3), num_classes=7)

    @parameterized.named_parameters(
        ("inception_bn", "inception_small", True, 1_649_402),
        ("inception_no_bn", "inception_small", False, 1_649_402),
        ("alexnet", "alexnet_small", True, 1_387_786),
        ("mlp_3x512", "mlp_3x512", True, 1_735_178),
        ("mlp_1x512", "mlp_1x512", True, 1_209_866),
    )
    def test_paper_param_count(self, name, batch_norm, expected):
        model = build_model(name, input_shape=PAPER_SHAPE, num_classes=10, batch_norm=batch_norm)
        self.assertEqual(model.name, name)
        self.assertEqual(paper_param_count(model), expected)
        has_bn = any(isinstance(l, keras.layers.BatchNormalization) for l in model.layers)
        self.assertEqual(has_bn, name == "inception_small" and batch_norm)
        # Keras also counts BN moving mean and variance (non-trainable); nothing else may differ.
        moving = [w for w in model.non_trainable_weights]
        self.assertTrue(all("moving_mean" in w.path or "moving_variance" in w.path for w in moving))
        self.assertEqual(model.count_params() - expected, sum(int(np.prod(w.shape)) for w in moving))
        if has_bn:
            self.assertEqual(model.count_params(), 1_649_402 + 2 * 1712)  # 1712 BN channels

    @parameterized.named_parameters(
        ("inception", "inception_small"),
        ("alexnet", "alexnet_small"),
        ("mlp_1x512", "mlp_1x512"),
        ("mlp_3x512", "mlp_3x512"),
    )
    def test_forward_pass_any_input_shape(self, name):
        for shape, classes in (((28, 28, 1), 10), ((8, 8, 3), 7), ((32, 32, 3), 100)):
            model = build_model(name, input_shape=shape, num_classes=classes)
            x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
            logits = model(x, training=False)
            self.assertEqual(tuple(logits.shape), (2, classes))
            self.assertEqual(logits.dtype, "float32")
            self.assertIs(model.layers[-1].activation, keras.activations.linear)  # logits, no softmax
            self.assertTrue(np.all(np.isfinite(np.asarray(logits))))
        if name == "inception_small":
            model = build_model(name, input_shape=(8, 8, 3), num_classes=10, batch_norm=False)
            self.assertEqual(tuple(model(np.zeros((2, 8, 8, 3), "float32")).shape), (2, 10))

    @parameterized.named_parameters(
        ("inception", "inception_small"), ("alexnet", "alexnet_small"), ("mlp_3x512", "mlp_3x512")
    )
    def test_seed_determines_initial_weights(self, name):
        build = lambda seed: build_model(name, input_shape=(8, 8, 3), num_classes=10, seed=seed)
        a, b, c = build(0), build(0), build(1)
        for wa, wb in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(wa, wb)
        for ka, kc in zip(_kernels(a), _kernels(c)):
            self.assertFalse(np.array_equal(ka.numpy(), kc.numpy()), ka.path)
        # Each layer draws its own seed: same-shaped kernels within one model differ.
        by_shape = {}
        for k in _kernels(a):
            by_shape.setdefault(tuple(k.shape), []).append(k.numpy())
        for same in by_shape.values():
            for i in range(1, len(same)):
                self.assertFalse(np.array_equal(same[0], same[i]))

    @parameterized.named_parameters(
        ("inception", "inception_small"), ("alexnet", "alexnet_small"), ("mlp_1x512", "mlp_1x512")
    )
    def test_weight_decay_regularizes_every_kernel(self, name):
        none = build_model(name, input_shape=(8, 8, 3), num_classes=10, weight_decay=0.0)
        self.assertEqual(none.losses, [])
        wd = 5e-4
        model = build_model(name, input_shape=(8, 8, 3), num_classes=10, weight_decay=wd)
        kernels = _kernels(model)
        self.assertGreater(len(kernels), 1)
        self.assertLen(model.losses, len(kernels))
        expected = wd * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
        np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)

    @parameterized.parameters(*NON_BN_MODELS)
    def test_batch_norm_false_on_model_without_bn_raises(self, name):
        with self.assertRaisesRegex(ValueError, "batch_norm applies only to inception_small"):
            build_model(name, input_shape=(8, 8, 3), num_classes=10, batch_norm=False)

    def test_bn_momentum_reaches_every_batch_norm(self):
        model = build_model("inception_small", input_shape=(8, 8, 3), num_classes=10, bn_momentum=0.9)
        bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
        self.assertLen(bns, 19)  # stem + 2 per Inception module (8) + 1 per Downsample (2)
        self.assertEqual({layer.momentum for layer in bns}, {0.9})

    def test_unknown_model_and_negative_weight_decay_raise(self):
        with self.assertRaisesRegex(ValueError, "Unknown model"):
            build_model("resnet", input_shape=(8, 8, 3), num_classes=10)
        with self.assertRaisesRegex(ValueError, "weight_decay"):
            build_model("mlp_1x512", input_shape=(8, 8, 3), num_classes=10, weight_decay=-1.0)

    def test_alexnet_config_round_trip(self):
        layer = LocalResponseNormalization(depth_radius=2, beta=0.5)
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        self.assertIsInstance(restored, LocalResponseNormalization)
        self.assertEqual((restored.depth_radius, restored.beta, restored.alpha), (2, 0.5, 0.001 / 9.0))
        model = build_model("alexnet_small", input_shape=(8, 8, 3), num_classes=10)
        clone = keras.Model.from_config(model.get_config())
        clone.set_weights(model.get_weights())
        x = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
        np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(model(x)), rtol=1e-6)

    def test_dense_is_keras_dense_with_its_kernel_transposed(self):
        x = np.random.default_rng(2).normal(size=(5, 40)).astype("float32")
        ours, theirs = (
            cls(
                7,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=4),
                kernel_regularizer=keras.regularizers.L2(0.1),
            )
            for cls in (Dense, keras.layers.Dense)
        )
        out, expected = np.asarray(ours(x)), np.asarray(theirs(x))
        self.assertEqual(tuple(ours.kernel.shape), (7, 40))  # [units, inputs]
        np.testing.assert_array_equal(ours.kernel.numpy(), theirs.kernel.numpy().T)  # the same initial values
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
        self.assertGreater(np.count_nonzero(out), 0)
        # the same L2 penalty
        np.testing.assert_allclose(np.asarray(ours.losses), np.asarray(theirs.losses), rtol=1e-6)
        restored = Dense.from_config(ours.get_config())
        self.assertEqual(
            (restored.units, restored.activation, restored.kernel_regularizer.l2, restored.eigen_backward),
            (7, ours.activation, 0.1, False),
        )

    def test_eigen_backward_gives_the_same_gradients(self):
        x = tf.constant(np.random.default_rng(3).normal(size=(6, 40)).astype("float32"))
        layers = [
            Dense(
                9, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed=5), eigen_backward=eigen
            )
            for eigen in (False, True)
        ]
        grads = []
        for layer in layers:
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x) * tf.range(9.0))  # a different weight per unit
            grads.append(tape.gradient(loss, [x, layer.kernel, layer.bias]))
        for ours, autodiff in zip(grads[1], grads[0]):
            self.assertGreater(np.count_nonzero(autodiff), 0)
            np.testing.assert_allclose(np.asarray(ours), np.asarray(autodiff), rtol=1e-5, atol=1e-6)
        self.assertTrue(Dense.from_config(layers[1].get_config()).eigen_backward)
        half = Dense(9, dtype="mixed_float16", eigen_backward=True)  # float16: oneDNN's gradients, which exist
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(half(x), tf.float32))
        self.assertTrue(np.all(np.isfinite(tape.gradient(loss, half.kernel))))

    def test_mlp_hidden_to_hidden_layers_use_eigen_backward(self):
        model = build_model("mlp_3x512", input_shape=PAPER_SHAPE, num_classes=10)
        eigen = {layer.name: layer.eigen_backward for layer in model.layers if isinstance(layer, Dense)}
        self.assertEqual(eigen, {"hidden_1": False, "hidden_2": True, "hidden_3": True, "logits": False})


if __name__ == "__main__":
    absltest.main()
