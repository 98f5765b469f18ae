"""Section 5: the kernel, the exact minimum-norm solve, its norm, and Table 3 from the command line."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rethink_tf.data import sources
from rethink_tf.theory import kernels

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gaussian_kernel_matches_the_formula_across_blocks():
    rng = np.random.default_rng(0)
    a, b = rng.random((7, 5)), rng.random((4, 5))
    expected = np.exp(-0.3 * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(kernels.gaussian_kernel(a, b, 0.3, block=3).numpy(), expected, rtol=1e-12)


def test_interpolant_fits_every_label_and_l2_shrinks_its_norm():
    rng = np.random.default_rng(1)
    centers = rng.random((3, 6)) * 4
    y = np.arange(90) % 3
    x = centers[y] + rng.normal(scale=0.3, size=(90, 6))
    exact = kernels.interpolate(x[:60], y[:60], x[60:], y[60:], num_classes=3, gamma=0.5)
    ridge = kernels.interpolate(x[:60], y[:60], x[60:], y[60:], num_classes=3, gamma=0.5, l2=1.0)
    assert exact["train_error"] == 0.0 and exact["test_error"] < 10.0
    assert 0 < ridge["rkhs_norm"] < exact["rkhs_norm"]
    # with K alpha = Y, <alpha, K alpha> = <alpha, Y>: the norm is the solve's own
    k = kernels.gaussian_kernel(x[:60], x[:60], 0.5)
    alpha = kernels.solve(k, np.eye(3)[y[:60]]).numpy()
    assert exact["rkhs_norm"] == pytest.approx(np.sqrt((alpha * np.eye(3)[y[:60]]).sum()), rel=1e-6)


def test_singular_kernel_is_refused_with_the_fix():
    x = np.repeat(np.random.default_rng(2).random((5, 3)), 2, axis=0)  # every example twice
    with pytest.raises(kernels.KernelError, match=r"near-duplicate examples .*\(--kernel_l2"):
        kernels.solve(kernels.gaussian_kernel(x, x, 1.0), np.eye(2)[np.arange(10) % 2])


def test_table3_rows_on_cifar_shaped_data_carry_the_papers_numbers():
    from rethink_tf import config
    from rethink_tf.experiments import table3

    rng = np.random.default_rng(3)

    def split(n):  # 32x32x3 images whose mean color encodes one of 3 classes
        labels = np.arange(n) % 3
        base = np.array([[40, 40, 200], [40, 200, 40], [200, 40, 40]], np.uint8)[labels]
        images = base[:, None, None, :] + rng.integers(0, 40, (n, 32, 32, 3), dtype=np.uint8)
        return sources.RawSplit(images, labels.astype(np.int64))

    raw = sources.RawData("cifar10", split(90), split(30), 3, "in memory")
    cfg = config.RunConfig(dataset="cifar10", crop_size=28, seed=0).validate()
    rows = table3.solve(cfg, l2=1e-3, num_filters=4, raw=raw)
    assert [r["paper_test_error"] for r in rows] == [46.0, 17.0, 15.0, None]
    assert rows[0]["dims"] == 32 * 32 * 3 and rows[1]["dims"] == 7 * 7 * 4  # (32 - 4) / 4 = 7
    assert rows[0]["test_error"] == 0.0 and rows[3]["train_error"] == 0.0
    assert "| pixels | 46.0 | 0.00 |" in table3.markdown(rows)


@pytest.mark.skipif(not os.path.isdir(sources.FASHION_MNIST_DIR), reason="needs dataset-fashion-mnist")
def test_table3_cli_on_fashion_mnist_and_a_results_dir_of_other_flags(tmp_path, capsys):
    from conftest import experiment_in_process, one_line_exit

    from rethink_tf.experiments import table3

    cmd = [
        sys.executable,
        "-m",
        "rethink_tf.experiments.table3",
        "--train_size=300",
        "--test_size=200",
        "--random_filters=8",
        f"--results_dir={tmp_path}",
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "table3.json") as f:
        rows = json.load(f)["rows"]
    assert [r["row"] for r in rows] == [
        "pixels",
        "random conv features",
        "random conv features, l2",
        "pixels, random labels",
    ]
    assert all(r["train_error"] == 0.0 for r in rows)  # every row interpolates its labels
    assert rows[0]["test_error"] < 40.0 and rows[3]["test_error"] > 75.0
    assert "| pixels |" in (tmp_path / "table3.md").read_text()
    # The command with another flag, in this process (its work inside one_line_errors, as its entry point runs it).
    other = [*cmd[3:-2], "--random_filters=4", f"--results_dir={tmp_path}"]
    status, err = one_line_exit(capsys, lambda: experiment_in_process(table3.EXPERIMENT, *other))
    assert status == 2 and "table3.json holds a result of other flags (differs in: random_filters)" in err
