"""Capacity and optimizer settings for capacity sweeps (double descent): the MLPs' --hidden_units, the conv nets'
--width_multiplier, --optimizer=adam; the defaults build the paper's nets to the bit, a bad value is one line."""

import numpy as np
import pytest
from conftest import tiny_config, tiny_raw

from rethink_tf import config, models, records, runs, train

SHAPE, CLASSES = (28, 28, 3), 10


def build(name, **kwargs):
    return models.build_model(name, input_shape=SHAPE, num_classes=CLASSES, seed=3, **kwargs)


def test_hidden_units_size_the_mlps_and_512_is_the_paper_s_net_to_the_bit():
    inputs = 28 * 28 * 3
    for units in (1, 8):
        net = build("mlp_1x512", hidden_units=units)
        assert net.count_params() == units * (inputs + 1) + CLASSES * (units + 1)
    three = build("mlp_3x512", hidden_units=4)
    assert three.count_params() == 4 * (inputs + 1) + 2 * 4 * 5 + CLASSES * 5
    paper, same = build("mlp_1x512"), build("mlp_1x512", hidden_units=512)
    assert paper.count_params() == models.MODELS["mlp_1x512"].paper_param_count
    assert all(np.array_equal(a, b) for a, b in zip(paper.get_weights(), same.get_weights()))


def test_the_width_multiplier_scales_every_channel_and_1_is_the_paper_s_net():
    half = build("alexnet_small", width_multiplier=0.5)
    conv = 5 * 5 * 3 * 32 + 32 + 5 * 5 * 32 * 32 + 32
    dense = (7 * 7 * 32) * 192 + 192 + 192 * 96 + 96 + 96 * CLASSES + CLASSES
    assert half.count_params() == conv + dense
    assert build("alexnet_small").count_params() == models.MODELS["alexnet_small"].paper_param_count
    wide, narrow = build("inception_small", width_multiplier=2.0), build("inception_small", width_multiplier=0.25)
    assert wide.get_layer("stem_conv").filters == 192 and narrow.get_layer("stem_conv").filters == 24
    assert narrow.count_params() < models.MODELS["inception_small"].paper_param_count < wide.count_params()
    assert build("inception_small", width_multiplier=0.001).get_layer("stem_conv").filters == 1  # at least one


def test_run_names_and_bad_values():
    base = config.RunConfig(model="mlp_1x512", dataset="fashion_mnist")
    assert config.default_run_name(base) == "mlp_1x512-fashion_mnist-true_labels-seed0"
    named = config.RunConfig(model="mlp_1x512", hidden_units=16, optimizer="adam", dataset="fashion_mnist")
    assert config.default_run_name(named) == "mlp_1x512-fashion_mnist-true_labels-h16-adam-seed0"
    wide = config.RunConfig(model="alexnet_small", width_multiplier=0.25, dataset="fashion_mnist")
    assert config.default_run_name(wide) == "alexnet_small-fashion_mnist-true_labels-wm0.25-seed0"
    for bad, message in (
        (dict(model="alexnet_small", hidden_units=8), "--hidden_units=8 is not allowed: the MLPs' hidden units"),
        (dict(model="mlp_1x512", width_multiplier=2.0), "--width_multiplier=2.0 is not allowed: it scales"),
        (dict(model="inception_v3", width_multiplier=2.0), "--width_multiplier=2.0 is not allowed"),
        (dict(hidden_units=-1), "--hidden_units=-1 is not allowed"),
        (dict(width_multiplier=0.0), "--width_multiplier=0.0 is not allowed: a factor > 0"),
        (dict(optimizer="rmsprop"), "--optimizer='rmsprop' is not allowed: sgd or adam"),
    ):
        with pytest.raises(config.ConfigError, match=message.replace("(", r"\(")):
            runs.check(config.RunConfig(**{"dataset": "fashion_mnist", **bad}))


def test_adam_trains_deterministically_and_is_recorded(tmp_path):
    cfg = tiny_config(tmp_path / "a", optimizer="adam", learning_rate=0.001, lr_decay=1.0, hidden_units=32, epochs=3)
    a = train.run(cfg, raw=tiny_raw())
    again = train.run(
        tiny_config(
            tmp_path / "b",
            **{k: getattr(cfg, k) for k in ("optimizer", "learning_rate", "lr_decay", "hidden_units", "epochs")},
        ),
        raw=tiny_raw(),
    )
    assert a.finished and a.config.optimizer == "adam" and a.config.hidden_units == 32
    assert a["model"]["param_count"] == 32 * (8 * 8 * 3 + 1) + 4 * 33
    assert [r["loss"] for r in a.epochs] == [r["loss"] for r in again.epochs]
    assert a.epochs[-1]["accuracy"] > 0.5  # the tiny task is learnt
    assert [r["learning_rate"] for r in a.epochs] == pytest.approx([0.001] * 3)  # --lr_decay=1: constant
    assert records.read_record(cfg.run_dir)["config"]["optimizer"] == "adam"
