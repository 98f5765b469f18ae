"""Adversarial training (--adversarial): a fraction of each batch replaced by the critical sample ratio's
adversarial examples, weighted against the clean rest; resumable to the bit, its weights files the model's own."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import all_weights, final_and_losses, interrupted_run, same_weights, tiny_config, tiny_raw

from rethink_tf import adversarial, config, fitting, records, runs, train
from rethink_tf.models import build_model


def test_the_weights_make_the_loss_a_mix_of_the_clean_and_the_adversarial_means():
    w = adversarial.clean_and_adversarial_weights(tf.constant(8), tf.constant(2), 0.3).numpy()
    per_example = np.arange(8, dtype=np.float32)
    assert np.isclose(np.mean(w * per_example), 0.3 * per_example[:2].mean() + 0.7 * per_example[2:].mean())


def test_the_ball_is_arpits_in_whitened_units():
    images = np.stack(
        [np.full((4, 4, 1), v, np.uint8) for v in (0, 255)] + [np.eye(4, dtype=np.uint8)[..., None] * 255]
    )
    scale = adversarial.pixel_scale(images)
    # two constant images floored at 1/sqrt(16), one of 0s and 255s at std sqrt(3)/4
    assert scale == pytest.approx((0.25 + 0.25 + np.sqrt(3) / 4) / 3)
    lass = adversarial.whitened_lass(scale)
    assert lass.radius == pytest.approx(0.3 / 255 / scale) and lass.iterations == 100


def test_a_step_trains_on_adversarial_examples_and_a_resumed_run_ends_with_the_same_bits(tmp_path, monkeypatch):
    on = dict(adversarial=0.5, adversarial_fraction=0.25, corrupt=0.3)
    whole = tiny_config(tmp_path / "whole", **on)
    a = train.run(whole, raw=tiny_raw())
    assert a["status"] == records.FINISHED and whole.run_dir.endswith("-p0.3-adv0.5-of0.25-seed0")
    cut = interrupted_run(tiny_config(tmp_path / "cut", **on), monkeypatch)
    b = train.run(cut, raw=tiny_raw())
    assert final_and_losses(a) == final_and_losses(b)
    assert same_weights(*all_weights(tmp_path / "whole").values(), *all_weights(tmp_path / "cut").values())
    clean = train.run(tiny_config(tmp_path / "clean", corrupt=0.3), raw=tiny_raw())
    assert final_and_losses(clean) != final_and_losses(a)
    # The weights files are the model's own: a plain rebuild of the run reads them.
    model = fitting.build(whole, (8, 8, 3), 4)  # tiny_raw, made RGB as the paper feeds its models
    model.load_weights(f"{whole.run_dir}/{records.WEIGHTS}")
    assert not isinstance(model, adversarial.AdversarialTraining)


def test_one_line_errors_and_no_regularizer():
    with pytest.raises(config.ConfigError, match="--adversarial_fraction=1.0 is not allowed"):
        config.RunConfig(adversarial=0.5, adversarial_fraction=1.0).validate()
    with pytest.raises(config.ConfigError, match="--adversarial=1.0 is not allowed"):
        config.RunConfig(adversarial=1.0).validate()
    cfg = config.RunConfig(adversarial=0.5).validate()
    assert "adversarial" in cfg.regularizers and "adversarial" not in runs.unregularized(cfg).regularizers


def test_the_search_inside_the_step_leaves_the_model_alone():
    model = build_model("mlp_1x512", input_shape=(8, 8, 1), num_classes=4, seed=0, dropout=0.5)
    wrapped = adversarial.wrap(model, weight=0.5, fraction=0.5, scale=0.3, seed=0)
    assert [w.path for w in wrapped.weights] == [w.path for w in model.weights]
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(wrapped(x, training=False), model(x, training=False))
