"""Arpit et al.'s regularizers as layers (--dropout after each hidden layer, --input_dropout, --input_noise,
--hidden_noise): off adds nothing, on leaves the initial weights and inference alone, draws what it should,
and a resumed run draws what an uninterrupted one would."""

import re

import numpy as np
import pytest
from conftest import all_weights, final_and_losses, interrupted_run, same_weights, tiny_config, tiny_raw

from rethink_tf import config, models, runs, train
from rethink_tf.models.noise import SeededNoise

TABLE1 = ("inception_small", "alexnet_small", "mlp_1x512", "mlp_3x512")
ON = dict(dropout=0.3, input_dropout=0.2, input_noise=0.5, hidden_noise=0.1)


def noise_layers(model):
    return [layer.name for layer in model.layers if isinstance(layer, SeededNoise)]


@pytest.mark.parametrize("name", TABLE1)
def test_on_adds_layers_after_the_input_and_each_hidden_layer_and_changes_no_initial_weight(name):
    off = models.build_model(name, input_shape=(12, 12, 1), num_classes=4, seed=3)
    on = models.build_model(name, input_shape=(12, 12, 1), num_classes=4, seed=3, **ON)
    assert noise_layers(off) == []
    hidden = {"mlp_1x512": 1, "mlp_3x512": 3, "alexnet_small": 4, "inception_small": 11}[name]
    assert len(noise_layers(on)) == 2 * (1 + hidden) and noise_layers(on)[:2] == ["input_noise", "input_dropout"]
    trainable = [np.asarray(w) for w in on.trainable_weights]
    assert all(np.array_equal(a, b) for a, b in zip([np.asarray(w) for w in off.trainable_weights], trainable))
    assert models.paper_param_count(on) == models.paper_param_count(off)
    x = np.random.default_rng(0).normal(size=(3, 12, 12, 1)).astype(np.float32)
    np.testing.assert_array_equal(off(x, training=False), on(x, training=False))  # inference: no noise


def test_dropout_zeroes_its_rate_and_scales_the_rest_noise_has_its_stddev():
    x = np.ones((200, 500), np.float32)
    drop = SeededNoise("dropout", 0.3, seed=7)
    out = np.asarray(drop(x, training=True))
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.7)} and abs((out == 0).mean() - 0.3) < 0.01
    assert not np.array_equal(out, np.asarray(drop(x, training=True)))  # each training call draws anew
    gauss = np.asarray(SeededNoise("gaussian", 0.5, seed=7)(x, training=True)) - 1.0
    assert abs(gauss.std() - 0.5) < 0.01 and abs(gauss.mean()) < 0.01
    np.testing.assert_array_equal(SeededNoise("gaussian", 0.5, seed=7)(x, training=False), x)


def test_the_draw_is_a_function_of_the_seed_and_the_saved_count_of_calls(tmp_path):
    """What a resumed run relies on: the count of training calls is a weight, saved and loaded with the rest."""
    x = np.ones((4, 64), np.float32)
    first = models.build_model("mlp_1x512", input_shape=(8, 8, 1), num_classes=4, seed=1, dropout=0.5)
    for _ in range(3):
        first(x.reshape(4, 8, 8, 1), training=True)
    first.save_weights(str(tmp_path / "w.weights.h5"))
    again = models.build_model("mlp_1x512", input_shape=(8, 8, 1), num_classes=4, seed=1, dropout=0.5)
    again.load_weights(str(tmp_path / "w.weights.h5"))
    a, b = first(x.reshape(4, 8, 8, 1), training=True), again(x.reshape(4, 8, 8, 1), training=True)
    np.testing.assert_array_equal(a, b)


def test_a_resumed_run_with_every_noise_on_ends_with_the_bits_of_an_uninterrupted_one(tmp_path, monkeypatch):
    whole = tiny_config(tmp_path / "whole", corrupt=0.3, **ON)
    a = train.run(whole, raw=tiny_raw())
    cut = interrupted_run(tiny_config(tmp_path / "cut", corrupt=0.3, **ON), monkeypatch)
    b = train.run(cut, raw=tiny_raw())
    assert final_and_losses(a) == final_and_losses(b)
    assert same_weights(*all_weights(tmp_path / "whole").values(), *all_weights(tmp_path / "cut").values())
    off = train.run(tiny_config(tmp_path / "off", corrupt=0.3), raw=tiny_raw())
    assert final_and_losses(off) != final_and_losses(a)  # the noise is really there


def test_names_regularizers_and_one_line_errors(tmp_path):
    cfg = runs.derive(tiny_config(tmp_path), **ON)
    assert cfg.run_dir.endswith("mlp_1x512-fashion_mnist-true_labels-dropout0.3-indrop0.2-innoise0.5-hidnoise0.1-seed0")
    assert {"dropout", "input_dropout", "input_noise", "hidden_noise"} <= cfg.regularizers
    assert runs.unregularized(cfg).regularizers == frozenset()
    for flag, value, says in [
        ("input_dropout", 1.0, "a rate in [0, 1)"),
        ("hidden_noise", -0.1, "a standard deviation >= 0"),
        ("input_noise", float("nan"), "a finite number"),
    ]:
        with pytest.raises(config.ConfigError, match=f"--{flag}=.* is not allowed: {re.escape(says)}"):
            tiny_config(tmp_path, **{flag: value})
    with pytest.raises(config.ConfigError, match="--hidden_noise=0.1 is not allowed: .* not inception_v3"):
        runs.derive(tiny_config(tmp_path), model="inception_v3", hidden_noise=0.1)
