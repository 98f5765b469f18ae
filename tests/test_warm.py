"""Runs trained one after another in one process reuse the compiled model of the same graph (rethink_tf.warm), and
each run still ends with the bits it has trained alone."""

import json
import os

from conftest import interrupted_run, same_weights, tiny_config, tiny_raw, weight_arrays

import rethink_tf
from rethink_tf import records, train, warm


def _numbers(record):
    """What a run records that depends on its training (not on the clock)."""
    timeless = lambda row: {k: v for k, v in row.items() if "time" not in k and "seconds" not in k}
    measures = dict(record["measures"]["values"]) if record.get("measures") else None
    initial_csr = record.get("csr_initial", {}).get("csr_test")
    return [timeless(e) for e in record["epochs"]], record["final"], measures, initial_csr


def test_a_run_after_another_of_its_graph_reuses_the_model_and_ends_with_its_bits_alone(tmp_path):
    raw = tiny_raw()
    common = dict(epochs=3, measures=True, csr_every=2, csr_size=16)
    first = tiny_config(tmp_path / "warm", seed=0, **common)
    second = tiny_config(tmp_path / "warm", seed=1, corrupt=1.0, lr_decay=0.9, **common)
    alone = tiny_config(tmp_path / "alone", seed=1, corrupt=1.0, lr_decay=0.9, **common)

    warm.clear()
    train.run(first, raw)
    key = warm.key(train.for_data(first, raw), (8, 8, 3), 4, "float32")
    kept = warm.get(key)
    assert kept is not None
    warm_record = train.run(second, raw)
    assert warm.get(key) is kept  # the second run trained the first one's model
    warm.clear()
    alone_record = train.run(alone, raw)
    assert warm.get(key) is not kept

    assert json.dumps(_numbers(warm_record)) == json.dumps(_numbers(alone_record))
    for name in (records.WEIGHTS, records.INITIAL_WEIGHTS):
        assert same_weights(
            weight_arrays(os.path.join(second.run_dir, name)),
            weight_arrays(os.path.join(alone.run_dir, name)),
        ), name


def test_another_graph_gets_a_model_of_its_own(tmp_path):
    raw = tiny_raw()
    warm.clear()
    a = tiny_config(tmp_path, seed=0, epochs=1)
    b = tiny_config(tmp_path, seed=0, epochs=1, hidden_units=64)
    train.run(a, raw)
    train.run(b, raw)
    key_a = warm.key(train.for_data(a, raw), (8, 8, 3), 4, "float32")
    key_b = warm.key(train.for_data(b, raw), (8, 8, 3), 4, "float32")
    assert key_a != key_b and warm.get(key_a) is not warm.get(key_b)
    assert warm.get(key_b).count_params() < warm.get(key_a).count_params()
    rethink_tf.forget_kept()  # a notebook's way to the memory back
    assert warm.get(key_a) is None and warm.get(key_b) is None


def test_a_fresh_run_after_a_resumed_one_starts_at_epoch_one(tmp_path, monkeypatch):
    # Keras keeps the epoch a restored backup starts at on the model (BackupAndRestore sets _initial_epoch): the
    # kept model must not carry it into the next run.
    raw = tiny_raw()
    warm.clear()
    resumed = interrupted_run(tiny_config(tmp_path / "warm", seed=0, epochs=4), monkeypatch)
    assert len(train.run(resumed, raw)["resumed"]) == 1
    after = train.run(tiny_config(tmp_path / "warm", seed=1, epochs=4), raw)
    warm.clear()
    alone = train.run(tiny_config(tmp_path / "alone", seed=1, epochs=4), raw)
    assert [e["epoch"] for e in after["epochs"]] == [1, 2, 3, 4]
    assert json.dumps(_numbers(after)) == json.dumps(_numbers(alone))


def test_a_runs_global_seeds_are_keras_ones_without_clearing_tensorflows_kernels(monkeypatch):
    import random

    import keras
    import numpy as np
    from tensorflow.python import pywrap_tfe
    from tensorflow.python.eager import context

    from rethink_tf import fitting

    keras.utils.set_random_seed(7)
    expected = (random.random(), np.random.random(), context.global_seed())
    cleared = []
    monkeypatch.setattr(pywrap_tfe, "TFE_ContextClearCaches", lambda handle: cleared.append(handle))
    fitting.set_random_seed(7)
    assert (random.random(), np.random.random(), context.global_seed()) == expected
    assert not cleared


def test_every_setting_the_models_build_and_compile_read_is_part_of_the_graph_key(tmp_path):
    # A setting fitting.build or compile_model reads but warm.key leaves out would let a run train a kept model of
    # another graph (a momentum or weight decay is a constant of the traced step, not a variable).
    from rethink_tf import fitting

    read = set()

    class Recording:
        def __init__(self, config):
            object.__setattr__(self, "_config", config)

        def __getattr__(self, name):
            read.add(name)
            return getattr(self._config, name)

    for overrides in ({}, {"model": "alexnet_small", "width_multiplier": 0.5}, {"optimizer": "adam"}):
        config = Recording(tiny_config(tmp_path, **overrides))
        model = fitting.build(config, (8, 8, 3), 4)
        fitting.compile_model(model, config, num_classes=4)
    values_only = {"train_seed", "learning_rate"}  # initializers' seeds, and a variable the kept model is given
    assert read - values_only <= set(warm.GRAPH_FIELDS), read - values_only - set(warm.GRAPH_FIELDS)
