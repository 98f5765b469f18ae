"""The grid on Ray (--engine=ray): a local cluster bound to 127.0.0.1 with two worker processes, one of them killed
in the middle of a run; every run must finish, none train twice, and each end with the bits of a local run."""

import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from conftest import ENV, all_weights, needs_data, same_weights

from rethink_tf import records

pytestmark = needs_data

# Rademacher's five architectures on 64 images; 3 epochs, so that Inception is still training after its first.
FLAGS = ["--preset=smoke", "--train_size=64", "--test_size=64", "--epochs=3"]
RAY = os.path.join(os.path.dirname(sys.executable), "ray")  # make test installs rethink_tf[ray]: never skipped
# Every Ray process on 127.0.0.1 (Ray's switch for a one-machine cluster), and token authentication with a token
# of the test's own (the cluster and the driver must agree on it; Ray 2.60's `ray start` turns it on by itself).
RAY_ENV = {
    **ENV,
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster():
    """A Ray head on 127.0.0.1 with 2 CPUs (two runs at once), its socket files under a short /tmp path."""
    temp, port = tempfile.mkdtemp(prefix="ray", dir="/tmp"), free_port()
    start = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    start += ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    subprocess.run(start, check=True, capture_output=True, env=RAY_ENV, timeout=300)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=RAY_ENV, timeout=300)
        shutil.rmtree(temp, ignore_errors=True)


def rademacher(results_dir, *flags):
    return [sys.executable, "-m", "rethink_tf.experiments.rademacher", f"--results_dir={results_dir}", *FLAGS, *flags]


def kill_a_run_after_its_first_epoch(results_dir, proc):
    """SIGKILLs the worker process of the first run seen with an epoch done and a live claim; its run dir."""
    while proc.poll() is None:
        for path in glob.glob(os.path.join(str(results_dir), "*", records.RECORD)):
            run_dir = os.path.dirname(path)
            record = records.read_json(path) or {}
            holder = records.claim_holder(run_dir)
            if record.get("status") == records.RUNNING and len(record.get("epochs", [])) >= 1 and holder:
                os.kill(holder["pid"], signal.SIGKILL)
                return run_dir
        time.sleep(0.05)
    pytest.fail(f"the grid ended before a run could be killed: {proc.stderr.read()[-3000:]}")


def test_a_ray_worker_killed_mid_run_is_retried_and_every_run_ends_with_local_bits(tmp_path, cluster):
    local = subprocess.run(rademacher(tmp_path / "local"), capture_output=True, text=True, env=ENV, timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]

    proc = subprocess.Popen(
        rademacher(tmp_path / "ray", "--engine=ray", f"--ray_address={cluster}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=RAY_ENV,
    )
    killed = kill_a_run_after_its_first_epoch(tmp_path / "ray", proc)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert "0 of 5 runs already finished; 5 to Ray" in out

    recs = {
        os.path.basename(os.path.dirname(p)): json.load(open(p))
        for p in glob.glob(str(tmp_path / "ray" / "*" / records.RECORD))
    }
    assert len(recs) == 5 and all(r["status"] == records.FINISHED for r in recs.values())
    # Only the killed run was resumed, once, from its backup; no other run started twice.
    assert {name for name, r in recs.items() if "resumed" in r} == {os.path.basename(killed)}
    assert len(recs[os.path.basename(killed)]["resumed"]) == 1
    assert all([e["epoch"] for e in r["epochs"]] == [1, 2, 3] for r in recs.values())
    for label in set(re.findall(r"\[rademacher [^]]+\] epoch \d/3", out)):  # an epoch is never trained twice
        assert out.count(label + " ") <= 1, label
    a, b = all_weights(tmp_path / "local"), all_weights(tmp_path / "ray")
    assert sorted(a) == sorted(b) and len(a) == 5
    assert [name for name in a if not same_weights(a[name], b[name])] == []

    again = subprocess.run(
        rademacher(tmp_path / "ray", "--engine=ray", f"--ray_address={cluster}"),
        capture_output=True,
        text=True,
        env=RAY_ENV,
        timeout=900,
    )
    assert again.returncode == 0 and "5 of 5 runs already finished; 0 to Ray" in again.stdout, again.stderr[-3000:]


def test_an_address_where_nothing_answers_is_refused_in_one_line_within_seconds(tmp_path):
    # ray.init would retry it for minutes, printing each try; a port nobody listens on is refused at once. Timed
    # from the line the driver prints just before it connects: TensorFlow's start-up is slow on a busy machine.
    port = free_port()
    proc = subprocess.Popen(
        rademacher(tmp_path, "--engine=ray", f"--ray_address=127.0.0.1:{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=RAY_ENV,
    )
    connecting = None
    for line in proc.stdout:
        if line.rstrip().endswith("to Ray"):
            connecting = time.monotonic()
    stderr = proc.communicate(timeout=300)[1]
    took = time.monotonic() - connecting if connecting else None
    lines = stderr.strip().splitlines()
    assert proc.returncode == 2 and f"--ray_address=127.0.0.1:{port}: nothing answers" in lines[-1], stderr[-2000:]
    assert f"ray start --head --port={port}" in lines[-1] and "GCS" not in stderr  # none of Ray's retry lines
    assert took is not None and took < 30, f"refused {took} s after connecting began"
    assert not glob.glob(os.path.join(str(tmp_path), "*", records.RECORD))  # no run started
