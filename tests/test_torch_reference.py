"""tools/torch_reference.py builds the same architectures as rethink_tf.models (counts, shapes, LRN) and times them."""

import math
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rethink_tf.models import build_model, paper_param_count  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import torch_reference  # noqa: E402

PAPER_COUNTS = {
    "inception_small": 1_649_402,
    "inception_small_nobn": 1_649_402,
    "alexnet_small": 1_387_786,
    "mlp_1x512": 1_209_866,
    "mlp_3x512": 1_735_178,
}


@pytest.mark.parametrize("key", torch_reference.KEYS)
def test_trainable_params_match_the_keras_model_and_the_paper(key):
    keras_model = build_model(
        key.removesuffix("_nobn"), input_shape=(28, 28, 3), num_classes=10, batch_norm=not key.endswith("_nobn")
    )
    count = torch_reference.trainable_params(torch_reference.build(key))
    assert count == paper_param_count(keras_model) == PAPER_COUNTS[key]


@pytest.mark.parametrize("key", torch_reference.KEYS)
def test_logits_have_one_row_per_image(key):
    assert torch_reference.build(key)(torch.zeros(2, 3, 28, 28)).shape == (2, 10)


def test_inception_downsamples_like_tensorflow_same_padding():
    model = torch_reference.build("inception_small")
    sizes = []
    for module in model.modules():
        if isinstance(module, torch_reference.Downsample):
            module.register_forward_hook(
                lambda _, inputs, output: sizes.append((inputs[0].shape[-1], output.shape[-1]))
            )
    model(torch.zeros(2, 3, 28, 28))
    assert sizes == [(28, 14), (14, 7)]


def test_local_response_norm_matches_tensorflow():
    tf = pytest.importorskip("tensorflow")
    lrn = next(m for m in torch_reference.build("alexnet_small").modules() if isinstance(m, torch.nn.LocalResponseNorm))
    x = np.random.default_rng(0).normal(scale=20.0, size=(2, 7, 7, 64)).astype(np.float32)  # large: LRN bites
    expected = tf.nn.local_response_normalization(x, depth_radius=4, bias=1.0, alpha=0.001 / 9, beta=0.75).numpy()
    got = lrn(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert not np.allclose(expected, x, rtol=0.05)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_train_step_throughput_is_a_positive_rate():
    rate = torch_reference.train_step_images_per_s("mlp_1x512", 32, 0.3)
    assert rate > 0 and math.isfinite(rate)
