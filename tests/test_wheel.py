"""The package as a user installs it: a wheel, installed non-editable into a fresh venv, runs from elsewhere."""

import glob
import os
import site
import subprocess
import sys
import sysconfig

from conftest import REPO, needs_data


@needs_data
def test_wheel_installs_and_runs_the_smoke_preset_from_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), REPO],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = glob.glob(str(wheels / "rethink_tf-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
        check=True,
        capture_output=True,
        timeout=600,
    )
    # The dependencies (TensorFlow and the rest) from this venv, appended after the fresh venv's own packages so
    # that the installed wheel, not this checkout, is the rethink_tf that runs.
    fresh_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(fresh_site, "dependencies.pth"), "w") as f:
        f.write("\n".join([sysconfig.get_paths()["purelib"], *site.getsitepackages()]) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import rethink_tf; print(rethink_tf.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert where.stdout.startswith(fresh_site), where.stdout + where.stderr
    result = subprocess.run(
        [
            python,
            "-m",
            "rethink_tf.train",
            "--preset=smoke",
            "--model=mlp_1x512",
            f"--results_dir={tmp_path / 'results'}",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "mlp_1x512-fashion_mnist-true_labels-seed0: finished" in result.stdout
    assert glob.glob(str(tmp_path / "results" / "*" / "record.json"))
