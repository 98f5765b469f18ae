"""One grid two ways, each run ending with the same bits: shared by --workers=2 local processes through the runs'
claims (each run trained whole by one of them: the bits of one process), and on Ray (--engine=ray: a local cluster
bound to 127.0.0.1 with two worker processes, one of them killed in the middle of a run; every run must finish,
none train twice). The workers' grid is the reference of Ray's (one test, so that it is trained once)."""

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
from conftest import ENV, all_weights, experiment_in_process, needs_data, same_weights

from rethink_tf import records
from rethink_tf.experiments import engines
from rethink_tf.experiments import rademacher as rademacher_experiment

pytestmark = needs_data

# Rademacher's five architectures on 64 images cropped to 12x12 (Inception's epochs in about a second, not five);
# 3 epochs, so that a run is still training after its first.
FLAGS = ["--preset=smoke", "--train_size=64", "--test_size=64", "--crop_size=12", "--epochs=3"]
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
    """A Ray head on 127.0.0.1 with 2 CPUs (two runs at once), its socket files under a short /tmp path.

    Its daemons share the process group of the `ray start` that made them, and only that group is killed at
    the end: `ray stop` would kill every Ray cluster on the machine, another user's or another test run's too.
    """
    temp, port, client_port = tempfile.mkdtemp(prefix="ray", dir="/tmp"), free_port(), free_port()
    start = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    start += [f"--ray-client-server-port={client_port}", "--include-dashboard=false", "--disable-usage-stats"]
    start += [f"--temp-dir={temp}"]
    head = subprocess.Popen(
        start, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=RAY_ENV, start_new_session=True
    )
    try:
        out, _ = head.communicate(timeout=300)
        assert head.returncode == 0, out[-3000:]
        yield f"127.0.0.1:{port}"
    finally:
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(temp, ignore_errors=True)


def rademacher(results_dir, *flags):
    return [sys.executable, "-m", "rethink_tf.experiments.rademacher", f"--results_dir={results_dir}", *FLAGS, *flags]


def backed_up_epochs(run_dir):
    """The epochs the run's backup holds (Keras' training_metadata.json), None while one is being written."""
    backup = os.path.join(run_dir, records.BACKUP)
    if os.path.exists(backup + ".new"):
        return None
    meta = records.read_json(os.path.join(backup, "training_metadata.json")) or {}
    return meta.get("epoch")


def kill_a_run_after_its_first_epoch(results_dir, proc):
    """SIGKILLs the worker process of the first run seen with an epoch done, backed up, and a live claim; its run
    dir. Only when the backup has caught up with the record: a kill between the two would train an epoch again."""
    while proc.poll() is None:
        for path in glob.glob(os.path.join(str(results_dir), "*", records.RECORD)):
            run_dir = os.path.dirname(path)
            record = records.read_json(path) or {}
            holder = records.claim_holder(run_dir)
            done = len(record.get("epochs", []))
            if record.get("status") == records.RUNNING and done >= 1 and holder and backed_up_epochs(run_dir) == done:
                os.kill(holder["pid"], signal.SIGKILL)
                return run_dir
        time.sleep(0.05)
    pytest.fail(f"the grid ended before a run could be killed: {proc.stderr.read()[-3000:]}")


ARCHITECTURES = ["Inception", "Inception w/o BatchNorm", "AlexNet", "MLP 3x512", "MLP 1x512"]


def test_workers_and_a_ray_worker_killed_mid_run_end_every_run_with_the_bits_of_one_process(tmp_path, cluster, capsys):
    # --workers=2: Rademacher's grid, all five architectures, Inception and AlexNet among them, one run each.
    shared = subprocess.run(
        rademacher(tmp_path / "two", "--workers=2"), capture_output=True, text=True, env=ENV, timeout=900
    )
    assert shared.returncode == 0, shared.stderr[-3000:]
    assert "5 runs shared by 2 worker processes" in shared.stdout
    assert shared.stdout.count("| architecture |") == 1  # one report, by the parent, once every worker is done
    assert "left to its worker" not in shared.stdout  # the workers leave each other's runs without a line
    # A worker prints an epoch line only for a run it trains: each run trained by exactly one of them.
    trained = re.findall(r"^\[rademacher ([^]]+)\] epoch 1/3 ", shared.stdout, re.M)
    assert sorted(trained) == sorted(ARCHITECTURES)
    recs = [json.load(open(p)) for p in glob.glob(str(tmp_path / "two" / "*" / records.RECORD))]
    assert len(recs) == 5 and all(r["status"] == records.FINISHED and "resumed" not in r for r in recs)
    assert len({r["pid"] for r in recs}) == 2  # both workers trained, whole runs each; the parent none

    proc = subprocess.Popen(
        rademacher(tmp_path / "ray", "--engine=ray", f"--ray_address={cluster}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=RAY_ENV,
    )
    killed = kill_a_run_after_its_first_epoch(tmp_path / "ray", proc)
    proc_out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert "0 of 5 runs already finished; 5 to Ray" in proc_out

    recs = {
        os.path.basename(os.path.dirname(p)): json.load(open(p))
        for p in glob.glob(str(tmp_path / "ray" / "*" / records.RECORD))
    }
    assert len(recs) == 5 and all(r["status"] == records.FINISHED for r in recs.values())
    # Only the killed run was resumed, once, from its backup; no other run started twice.
    assert {name for name, r in recs.items() if "resumed" in r} == {os.path.basename(killed)}
    assert len(recs[os.path.basename(killed)]["resumed"]) == 1
    assert all([e["epoch"] for e in r["epochs"]] == [1, 2, 3] for r in recs.values())
    for label in set(re.findall(r"\[rademacher [^]]+\] epoch \d/3", proc_out)):  # an epoch is never trained twice
        assert proc_out.count(label + " ") <= 1, label
    # Ray schedules the runs on its workers its own way, and one run was resumed from its backup: the same bits.
    a, b = all_weights(tmp_path / "two"), all_weights(tmp_path / "ray")
    assert sorted(a) == sorted(b) and len(a) == 5
    assert [name for name in a if not same_weights(a[name], b[name])] == []

    # The same command again (its work in this process, on the Ray engine it names): nothing left to Ray.
    capsys.readouterr()
    again = experiment_in_process(
        rademacher_experiment.EXPERIMENT, *FLAGS, f"--results_dir={tmp_path / 'ray'}", engine=engines.Ray(cluster)
    )
    out = capsys.readouterr().out
    assert "5 of 5 runs already finished; 0 to Ray" in out and " epoch " not in out and again.strip() in proc_out


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
