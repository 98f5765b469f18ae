"""tools/benchmark.py runs end to end on a small setting and writes the numbers it prints (not timed here)."""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, cli_in_process, needs_data

from rethink_tf import environment

sys.path.insert(0, os.path.join(REPO, "tools"))
import benchmark  # noqa: E402  (a script in tools/, imported for its functions)


@needs_data
def test_benchmark_writes_rates_for_the_models_and_pipelines_asked(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "benchmark.py"),
            "--models=mlp_1x512",
            "--seconds=0.4",
            "--rounds=2",
            "--train_images=512",
            "--pipeline_images=512",
            "--settings",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    mlp = result["models"]["mlp_1x512"]
    assert set(result["models"]) == {"mlp_1x512"} and result["matmul_peak_gflops"] > 0
    # oneDNN as a training run has it (tests/test_train.py's smoke run asserts the same of its record), and said so
    env = result["environment"]
    assert result["TF_ENABLE_ONEDNN_OPTS"] == "1" and env["onednn"] == result["onednn"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert env["onednn"] is True and env["onednn_isa"]
    assert f"environment: {environment.label(env)} (TF_ENABLE_ONEDNN_OPTS=1)" in done.stdout
    assert mlp["fit_images_per_s"] > 0 and mlp["bare_step_images_per_s"] > 0 and mlp["bare_fresh_images_per_s"] > 0
    assert mlp["fit_over_bare_fresh"] > 0
    # fit and the bare steps were timed in two turns each; rates are the medians of their rounds
    assert result["rounds"] == 2
    assert {k: len(v) for k, v in mlp["rounds"].items()} == {"fit": 2, "bare": 2, "bare_fresh": 2}
    assert mlp["fit_images_per_s"] == pytest.approx(sum(mlp["rounds"]["fit"]) / 2)
    assert mlp["forward_flops_per_image"] == 2 * (28 * 28 * 3 * 512 + 512 * 10)  # the two Dense layers
    # forward, weight and input gradients, but no input gradient for the first layer
    assert mlp["train_flops_per_image"] == 2 * (2 * 28 * 28 * 3 * 512 + 3 * 512 * 10)
    # --settings: each setting's speedup, oneDNN's from a child process that ran with it off; MLP 1x512 has no
    # layer with an Eigen backward, so that setting has no row
    assert set(mlp["speedup_of_setting"]) == {
        "steps_per_execution=1",
        "tf.data autotuner on",
        "Keras SGD",
        "Keras Dense",
        "oneDNN off",
    }
    assert all(v > 0 for v in mlp["speedup_of_setting"].values())
    assert not os.path.exists(str(out) + ".onednn_off.json")
    assert set(result["pipeline"]) == {
        c + s
        for c in ("true_labels", "random_labels", "shuffled_pixels", "random_pixels", "gaussian")
        for s in ("", " + random crop")
    }
    assert "mlp_1x512" in done.stdout and "written:" in done.stdout


def test_benchmark_bad_flags_are_one_line(monkeypatch, capsys):
    # The script's parser (app.run's, as its __main__ passes it) and main, in this process: the run above is the
    # script as a process.
    for args, message in ((["--models=resnet"], "unknown resnet"), (["--rounds=0"], "--rounds must be at least 1")):
        status, _, err = cli_in_process(
            monkeypatch,
            capsys,
            benchmark.main,
            *args,
            doc=benchmark.__doc__,
            groups=benchmark.FLAG_GROUPS,
            flag_values=benchmark.FLAGS,
        )
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and ": error:" in lines[0] and message in lines[0], err


@needs_data
def test_benchmark_torch_reports_pytorch_rate_and_ratio(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "b.json"
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "tools", "benchmark.py"),
            "--models=mlp_1x512",
            "--seconds=0.5",
            "--no_pipeline",
            "--torch",
            "--train_images=2048",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    mlp = result["models"]["mlp_1x512"]
    assert result["torch"] and mlp["torch_images_per_s"] > 0
    ratios = sorted(f / t for f, t in zip(mlp["rounds"]["fit"], mlp["rounds"]["torch"]))
    assert len(ratios) == 3 and mlp["fit_over_torch"] == pytest.approx(ratios[1])  # the median of 3 rounds
    assert mlp["fit_over_torch_range"] == pytest.approx([ratios[0], ratios[2]])
    assert "torch img/s" in done.stdout
    assert result["pipeline"] == {}  # --no_pipeline, the old spelling of --nopipeline


@pytest.mark.parametrize(
    ("argv", "timed"),
    [
        ((), True),
        (("--pipeline",), True),
        (("--nopipeline",), False),
        (("--pipeline=false",), False),
        (("--no_pipeline",), False),
    ],
)
def test_pipeline_flag_and_its_old_spelling(argv, timed):
    # main times the input pipeline when measure_pipeline() says so, as absl parsed the command line
    try:
        benchmark.FLAGS(["benchmark.py", *argv])
        assert benchmark.measure_pipeline() is timed
    finally:
        benchmark.FLAGS.unparse_flags()


def test_bare_steps_run_steps_per_execution_steps_per_call():
    # fit runs steps_per_execution steps per call into TensorFlow; the bare steps it is compared with do
    # too, or their Python overhead per step would flatter fit
    cfg = benchmark.config_lib.RunConfig(model="mlp_1x512", batch_size=8, steps_per_execution=4)
    model = benchmark.build(cfg, (6, 6, 1))
    bare = benchmark.bare_steps(model, cfg.batch_size, cfg.steps_per_execution)
    assert bare(0.05) > 0
    iterations = int(model.optimizer.iterations.numpy())
    assert iterations >= 8 and iterations % 4 == 0  # a warm-up call and at least one timed call, 4 steps each
    assert bare(0.05) > 0 and (int(model.optimizer.iterations.numpy()) - iterations) % 4 == 0


def test_fresh_batches_read_distinct_random_rows_in_a_fixed_order():
    # the bare steps on fresh batches read the rows a run would: each whole batch's worth once a pass
    images = np.arange(22 * 2, dtype=np.float32).reshape(22, 2)
    labels = np.arange(22, dtype=np.int64)
    batch = benchmark.fresh_batches(images, labels, 5)
    read = tf.function(lambda: tf.stack([batch()[1] for _ in range(4)]))
    first, second = read().numpy(), read().numpy()
    assert first.shape == (4, 5) and len(set(first.ravel())) == 20  # 4 batches, no row twice
    assert set(first.ravel()) <= set(range(22)) and list(first.ravel()) != sorted(first.ravel())  # in random order
    np.testing.assert_array_equal(first, second)  # 22 rows make 4 batches: the second pass repeats the order
    x, y = batch()
    np.testing.assert_array_equal(x.numpy(), images[y.numpy()])  # each image with its own label
    again = benchmark.fresh_batches(images, labels, 5)
    # the order is fixed, not drawn afresh per measure
    np.testing.assert_array_equal(tf.function(lambda: again()[1])().numpy(), first[0])
