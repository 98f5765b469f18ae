"""tools/torch_reference.py builds the same architectures as rethink_tf.models (counts, shapes, LRN) and times them."""

import os
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rethink_tf.models import build_model, paper_param_count  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import torch_reference  # noqa: E402
from torch.optim.optimizer import register_optimizer_step_post_hook  # noqa: E402

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
def test_logits_of_a_batch_are_those_of_each_image_alone(key):
    # the twin is timed on batches: in inference mode no image's logits may depend on the others in its batch
    torch.manual_seed(0)
    model = torch_reference.build(key).eval()
    images = torch.randn(3, *torch_reference.INPUT_SHAPE)
    with torch.no_grad():
        batch = model(images)
        alone = torch.cat([model(images[i : i + 1]) for i in range(3)])
    assert batch.shape == (3, torch_reference.NUM_CLASSES) and not torch.allclose(batch[0], batch[1])
    np.testing.assert_allclose(batch.numpy(), alone.numpy(), rtol=1e-4, atol=1e-5)


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


def test_train_step_rate_is_the_timed_steps_images_over_their_seconds(monkeypatch):
    # a clock that advances 0.1 s a reading: with 0.35 s asked, 3 steps are timed over 0.4 s after an untimed
    # warm-up, so 3 * 32 images / 0.4 s; every step is an optimizer step
    readings = iter(0.1 * i for i in range(1000))
    monkeypatch.setattr(torch_reference, "time", types.SimpleNamespace(perf_counter=lambda: next(readings)))
    steps = []
    handle = register_optimizer_step_post_hook(lambda *_: steps.append(1))
    try:
        rate = torch_reference.train_step_images_per_s("mlp_1x512", 32, 0.35, threads=1)
    finally:
        handle.remove()
    assert len(steps) == 1 + 3 and rate == pytest.approx(3 * 32 / 0.4)
