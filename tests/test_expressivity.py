"""Theorem 1: the 2n + d construction interpolates any targets on distinct points, and says why not otherwise."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rethink_tf.data import sources
from rethink_tf.theory import expressivity

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("n, d, seed", [(1, 3, 0), (2, 1, 1), (40, 5, 2), (300, 784, 3), (1000, 20, 4)])
def test_network_interpolates_random_instances_with_2n_plus_d_weights(n, d, seed):
    rng = np.random.default_rng(seed)
    points, targets = rng.standard_normal((n, d)), rng.standard_normal(n) * 5
    construction, min_diagonal = expressivity.construct(points, targets, seed=seed)
    model = expressivity.keras_model(construction)
    assert construction.num_weights == model.count_params() == 2 * n + d
    assert min_diagonal > 0
    np.testing.assert_allclose(expressivity.predict(model, points), targets, rtol=0, atol=1e-6)


def test_matrix_a_is_lower_triangular_with_positive_diagonal():
    rng = np.random.default_rng(7)
    points, targets = rng.integers(0, 256, (30, 12)), rng.integers(0, 10, 30)
    construction, min_diagonal = expressivity.construct(points, targets)
    z = np.sort(points.astype(np.float64) @ construction.direction)
    a = np.maximum(z[:, None] - construction.thresholds[None, :], 0)
    assert np.all(np.triu(a, 1) == 0) and np.all(np.diag(a) > 0) and np.diag(a).min() == pytest.approx(min_diagonal)
    np.testing.assert_allclose(
        a @ construction.weights, targets[np.argsort(points @ construction.direction)], atol=1e-9
    )


def test_duplicate_points_are_refused_with_their_indices():
    points = np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0]])
    with pytest.raises(expressivity.DuplicatePointsError, match="points 0 and 2 are equal"):
        expressivity.construct(points, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(expressivity.DuplicatePointsError, match="1 duplicate points"):
        expressivity.construct(points, np.array([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="as many targets as points"):
        expressivity.construct(points, np.array([1.0, 2.0]))


@pytest.mark.skipif(not os.path.isdir(sources.FASHION_MNIST_DIR), reason="needs dataset-fashion-mnist")
def test_cli_fits_random_labels_of_real_images_and_keeps_its_record(tmp_path):
    from conftest import experiment_in_process

    from rethink_tf.experiments import theorem1

    cmd = [
        sys.executable,
        "-m",
        "rethink_tf.experiments.theorem1",
        "--corruption=random_labels",
        "--train_size=3000",
        f"--results_dir={tmp_path}",
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "weights: 6,784 = 2n + d" in out.stdout and "labels exact after rounding: 100.00%" in out.stdout
    path = os.path.join(tmp_path, "theorem1-fashion_mnist-random_labels-n3000-seed0", "result.json")
    with open(path) as f:
        record = json.load(f)
    assert record["n"] == 3000 and record["max_fitting_error"] < 1e-3 and record["labels_changed"] > 0.8
    # The same command's work again, in this process: read back, not computed again; the report it prints the same.
    again = experiment_in_process(theorem1.EXPERIMENT, *cmd[3:])
    with open(path) as f:
        assert json.load(f) == record and again.strip() and again.strip() in out.stdout


def test_theorem1_results_of_other_label_noise_are_kept_apart(tmp_path):
    from conftest import tiny_raw

    from rethink_tf import config
    from rethink_tf.experiments import theorem1

    raw = tiny_raw(n_train=40, n_test=8)
    first = theorem1.compute(config.RunConfig(corrupt=0.5, results_dir=str(tmp_path)), raw)
    second = theorem1.compute(config.RunConfig(corrupt=0.2, results_dir=str(tmp_path)), raw)
    assert first["experiment"]["corrupt"] == 0.5 and second["experiment"]["corrupt"] == 0.2
    assert first["fingerprints"]["train_labels"] != second["fingerprints"]["train_labels"]
    assert sorted(os.listdir(tmp_path)) == [
        "theorem1-fashion_mnist-true_labels-p0.2-nall-seed0",
        "theorem1-fashion_mnist-true_labels-p0.5-nall-seed0",
    ]
    assert theorem1.compute(config.RunConfig(corrupt=0.5, results_dir=str(tmp_path)), raw) == first  # read back
    assert "| theorem1-" in theorem1.report(str(tmp_path))
