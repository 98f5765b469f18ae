"""Arpit et al.'s critical sample ratio (rethink_tf.csr): the search on a hand-made net, its determinism and its
whitening, and the curve and the measure of a run, which change no number of it and resume to the same bits."""

import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import Events, interrupted_run, tiny_config, tiny_raw, weight_arrays

from rethink_tf import config, csr, records, summaries, train
from rethink_tf.data import pipeline

R = 0.1


def linear_net():
    """Logits (s, -s) with s = the sum of the 4 inputs: the class flips where s crosses 0, and the L-infinity ball
    of radius r moves s by at most 4 r."""
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(2, use_bias=False)
    model = keras.Model(inputs, dense(inputs))
    dense.kernel.assign(np.array([[1.0, -1.0]] * 4, np.float32))
    return model


def find(model, x, seed=3, **overrides):
    lass = dict(radius=R, alpha=R / 2, beta=R / 10, iterations=100, seed=seed)
    return csr.search(model, x, **{**lass, **overrides})


def test_the_search_flips_an_input_near_the_boundary_and_not_one_far_from_it():
    model = linear_net()
    x = np.array([[0.5 * R] * 4, [2 * R] * 4, [0.3 * R] * 4], np.float32)  # s = 2r, 8r (out of reach), 1.2r
    found = find(model, x)
    assert found.flipped.numpy().tolist() == [True, False, True]
    assert found.predicted.numpy().tolist() == [0, 0, 0]
    # Steps of alpha = r/2 against the gradient's sign move s by -2r each: the first input flips after two, the
    # third after one; the far one ran every iteration.
    assert found.flipped_at.numpy().tolist() == [2, 0, 1] and found.steps.numpy() == 100
    adversarial = found.adversarial.numpy()
    assert np.all(np.abs(adversarial - x) <= R * (1 + 1e-6))  # within the ball
    assert np.argmax(model(adversarial[[0, 2]]), axis=1).tolist() == [1, 1]  # the flipped point is kept
    # Their convergence rule: a step that flips fewer than stop_below of the batch ends the search.
    assert find(model, x[1:2], stop_below=0.5).steps.numpy() == 1
    halted = find(model, x, stop_below=0.5)  # step 1 flipped 1 < 1.5 inputs
    assert halted.steps.numpy() == 1 and halted.flipped.numpy().tolist() == [False, False, True]
    assert find(model, x, stop_below=0.3).steps.numpy() == 3  # 1, 1, then 0 < 0.9 new flips


def test_the_search_is_a_pure_function_of_its_seed_eager_or_traced():
    model = linear_net()
    x = np.random.default_rng(0).normal(scale=R, size=(8, 4)).astype(np.float32)
    steps = dict(iterations=20)  # an eager loop's step costs milliseconds
    a, b, other = find(model, x, **steps), find(model, x, **steps), find(model, x, seed=4, **steps)
    traced = tf.function(lambda x, s: find(model, x, seed=s, **steps))(tf.constant(x), csr.seed_pair(3))  # 3's pair
    for one, two, three in zip(a, b, traced):
        np.testing.assert_array_equal(one.numpy(), two.numpy())
        np.testing.assert_array_equal(one.numpy(), three.numpy())
    assert not np.array_equal(a.adversarial.numpy(), other.adversarial.numpy())  # another seed, other noise
    # No random stream drawn from: every random op of the traced search (its loop's body included) is stateless.
    graph = tf.function(lambda x: find(model, x, **steps)).get_concrete_function(tf.constant(x)).graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    randoms = {n.op for n in nodes if "Random" in n.op or "Rng" in n.op}
    assert randoms and all(op.startswith("Stateless") for op in randoms), randoms


def test_the_search_whitens_each_candidate_as_the_evaluation_pipeline_does():
    images = np.random.default_rng(0).uniform(size=(5, 10, 10, 1)).astype(np.float32)
    cfg = tiny_config("unused", crop_size=8)
    cropped = csr.center_cropped(images, cfg)
    assert cropped.shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(
        csr.whitening(True)(tf.constant(cropped)).numpy(), pipeline.whitened_once(images, cfg)
    )


def test_bad_values_are_one_line_errors():
    for flag, value in (("csr_every", -1), ("csr_size", 0)):
        with pytest.raises(config.ConfigError, match=f"^--{flag}={value} is not allowed: .*$"):
            tiny_config("unused", **{flag: value})


def test_the_curve_and_the_measure_change_no_number_and_resume_to_the_same_bits(tmp_path, monkeypatch):
    # A radius of 15 gray levels, so that some inputs of tiny_raw's easy task are critical (at Arpit et al.'s 0.3,
    # none is): the curve's bits then say something.
    monkeypatch.setattr(csr, "ARPIT", dataclasses.replace(csr.ARPIT, radius=15 / 255, alpha=10 / 255))
    on = tiny_config(tmp_path / "on", corrupt=0.5, csr_every=2, csr_size=30, epochs=5, measures=True)
    off = dataclasses.replace(on, results_dir=str(tmp_path / "off"), csr_every=0, measures=False)
    a, b = train.run(on, raw=tiny_raw()), train.run(off, raw=tiny_raw())
    # The same weights and every number of the record but the CSR's.
    path = lambda c: os.path.join(c.run_dir, records.WEIGHTS)  # noqa: E731
    assert [(n, x.tobytes()) for n, x in weight_arrays(path(on))] == [
        (n, x.tobytes()) for n, x in weight_arrays(path(off))
    ]
    untimed = lambda row: {k: v for k, v in row.items() if not k.startswith("csr") and k != "epoch_time_s"}  # noqa: E731
    curve = lambda row: {k: v for k, v in row.items() if k in (csr.TRAIN_KEY, csr.TEST_KEY)}  # noqa: E731
    assert [untimed(r) for r in a["epochs"]] == [untimed(r) for r in b["epochs"]] and a["final"] == b["final"]
    # The curve: every 2nd epoch and the last; some inputs critical; the measure is the test sample's last point.
    rows = a["epochs"]
    assert (
        [r["epoch"] for r in rows if csr.TRAIN_KEY in r] == [r["epoch"] for r in rows if csr.TEST_KEY in r] == [2, 4, 5]
    )
    assert not any(k.startswith("csr") for r in b["epochs"] for k in r)
    values = [r[key] for r in rows for key in (csr.TRAIN_KEY, csr.TEST_KEY) if key in r]
    assert all(0 <= v <= 1 for v in values) and any(0 < v < 1 for v in values)
    assert a["measures"]["values"]["critical_sample_ratio"] == rows[-1][csr.TEST_KEY]
    # The point before the first step: the initial weights' (a net that has learnt nothing yet).
    initial = a[csr.INITIAL_KEY]
    assert set(initial) == {csr.TRAIN_KEY, csr.TEST_KEY, csr.SECONDS_KEY} and csr.INITIAL_KEY not in b
    assert a["measures"]["settings"]["csr_test_examples"] == 30
    # TensorBoard: its own tag group, the record's values at their epochs.
    events = Events(on.run_dir)
    for key in (csr.TRAIN_KEY, csr.TEST_KEY):
        tag = summaries.EPOCH_TAGS[key][0]
        assert tag.startswith(summaries.CSR + "/")
        curve_points = [(r["epoch"], pytest.approx(r[key])) for r in rows if key in r]
        assert events.series(tag) == [(0, pytest.approx(initial[key]))] + curve_points
    # Interrupted after the third epoch and resumed: the same curve, to the bit.
    cut = interrupted_run(dataclasses.replace(on, results_dir=str(tmp_path / "cut"), measures=False), monkeypatch)
    assert len(records.read_record(cut.run_dir)["epochs"]) == 2
    resumed = train.run(cut, raw=tiny_raw())
    assert [untimed(r) | curve(r) for r in resumed["epochs"]] == [untimed(r) | curve(r) for r in rows]
    assert curve(resumed[csr.INITIAL_KEY]) == curve(initial)
