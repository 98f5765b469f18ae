"""Scaling out without losing a run: mirrored replicas, worker processes and runs killed (SIGKILL, SIGTERM, SIGINT)
then continued, all through the command line on Fashion-MNIST (workers sharing a grid by the runs' claims:
tests/test_ray.py)."""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ENV, needs_data, same_weights, train_in_process, weight_arrays

from rethink_tf import records
from rethink_tf.experiments import workers

pytestmark = needs_data

SMALL = ["--preset=smoke", "--model=mlp_1x512", "--train_size=256", "--test_size=128", "--epochs=2", "--batch_size=32"]
# About 1 s per epoch for an MLP on 2 cores, so a kill sent 0.3 s after epoch 2 lands inside epoch 3.
SLOW = ["--preset=smoke", "--model=mlp_1x512", "--train_size=3000", "--test_size=500", "--epochs=4", "--batch_size=16"]
# A run with far more epochs than a test waits for (about 0.5 s each): it is still training whenever the signal comes.
LONG = ["--preset=smoke", "--model=mlp_1x512", "--train_size=1500", "--test_size=500", "--epochs=50", "--batch_size=16"]


def train_cli(results_dir, *flags, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "rethink_tf.train", f"--results_dir={results_dir}", *flags],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
        **kwargs,
    )


def only_record(results_dir):
    (path,) = glob.glob(os.path.join(str(results_dir), "*", records.RECORD))
    with open(path) as f:
        return json.load(f)


def weights(results_dir):
    (path,) = glob.glob(os.path.join(str(results_dir), "*", records.WEIGHTS))
    return weight_arrays(path)


def test_mirrored_over_two_cpu_devices_matches_one_device(tmp_path):
    one = train_cli(tmp_path / "one", *SMALL)
    two = train_cli(tmp_path / "two", *SMALL, "--cpu_devices=2")
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    a, b = only_record(tmp_path / "one"), only_record(tmp_path / "two")
    assert (a["replicas"], b["replicas"]) == (1, 2)
    # The same global batch and learning rate: only the order of float sums differs.
    np.testing.assert_allclose([e["loss"] for e in b["epochs"]], [e["loss"] for e in a["epochs"]], rtol=1e-5)
    assert b["final"]["train_accuracy"] == pytest.approx(a["final"]["train_accuracy"], abs=1 / 256)
    assert b["final"]["test_loss"] == pytest.approx(a["final"]["test_loss"], rel=1e-4)


def test_replicas_need_a_global_batch_they_can_split_and_multi_worker_is_refused(tmp_path, monkeypatch, capsys):
    odd = train_cli(tmp_path, *SMALL, "--cpu_devices=3", "--batch_size=32")
    assert (
        odd.returncode == 2
        and "--batch_size=32 is not allowed: the global batch must split evenly over the 3" in odd.stderr
    )
    # TF_CONFIG (read as the strategy is made, before any op) through the command line's parser and main, in process.
    cluster = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster))
    status, _, err = train_in_process(monkeypatch, capsys, f"--results_dir={tmp_path}", *SMALL)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "keras-team/keras#20585" in err, err[-2000:]
    assert not glob.glob(os.path.join(str(tmp_path), "*", records.RECORD))  # nothing started


def wait_for_epochs(results_dir, n, proc):
    """Polls the run record until it lists n epochs (the record is saved just before each epoch's backup)."""
    while proc.poll() is None:
        paths = glob.glob(os.path.join(str(results_dir), "*", records.RECORD))
        if paths:
            with open(paths[0]) as f:
                if len(json.load(f)["epochs"]) >= n:
                    return
        time.sleep(0.05)
    pytest.fail(f"the run ended before epoch {n}: {proc.stderr.read()[-2000:]}")


def test_sigkill_mid_epoch_then_the_same_command_ends_bit_identical(tmp_path):
    whole = train_cli(tmp_path / "whole", *SLOW)
    assert whole.returncode == 0, whole.stderr[-2000:]

    cut_dir = tmp_path / "cut"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rethink_tf.train", f"--results_dir={cut_dir}", *SLOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    wait_for_epochs(cut_dir, 2, proc)
    time.sleep(0.3)  # into epoch 3
    proc.kill()
    proc.wait()
    killed = only_record(cut_dir)
    assert killed["status"] == records.RUNNING and len(killed["epochs"]) in (2, 3)

    again = train_cli(cut_dir, *SLOW)
    assert again.returncode == 0, again.stderr[-2000:]
    a, b = only_record(tmp_path / "whole"), only_record(cut_dir)
    assert b["status"] == records.FINISHED and len(b["resumed"]) == 1
    assert b["epochs"][:2] == killed["epochs"][:2]  # resumed from the backup: epochs 1-2 not trained again
    assert [e["loss"] for e in b["epochs"]] == [e["loss"] for e in a["epochs"]]
    assert b["final"] == a["final"]
    assert same_weights(weights(cut_dir), weights(tmp_path / "whole"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_cleanly_with_the_record_interrupted(tmp_path, sig):
    # SIGINT ignored at start, as for a job a non-interactive shell puts in the background.
    proc = subprocess.Popen(
        [sys.executable, "-m", "rethink_tf.train", f"--results_dir={tmp_path}", *LONG],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    wait_for_epochs(tmp_path, 1, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert f"stopped by {sig.name}; run the same command again to continue" in err
    record = only_record(tmp_path)
    assert (
        record["status"] == records.INTERRUPTED
        and records.claim_holder(os.path.dirname(glob.glob(os.path.join(str(tmp_path), "*", records.RECORD))[0]))
        is None
    )


def test_corrupt_backup_is_reported_not_used(tmp_path, monkeypatch, capsys):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rethink_tf.train", f"--results_dir={tmp_path}", *LONG],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    wait_for_epochs(tmp_path, 2, proc)
    proc.kill()
    proc.wait()
    (backup,) = glob.glob(os.path.join(str(tmp_path), "*", records.BACKUP))
    with open(os.path.join(backup, "latest.weights.h5"), "r+b") as f:
        f.truncate(100)
    # The same command again (the command line's parser and main, in this process).
    status, _, err = train_in_process(monkeypatch, capsys, f"--results_dir={tmp_path}", *LONG)
    assert status == 2 and len(err.strip().splitlines()) == 1, err[-2000:]
    assert re.search(r"backup is corrupt \(OSError: .*\); move it away to train that run again from epoch 1", err)


# Workers sharing a grid by the runs' claims, each run with the bits of one process: tests/test_ray.py, whose
# in-process grid is the reference of both --workers=2 and Ray.


def test_worker_environments_give_each_worker_one_gpu_and_the_marker():
    envs = [workers.worker_env(k, 3, ["4", "6"], {"PATH": "/bin"}) for k in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["4", "6", "4"]
    assert [e[workers.WORKER_ENV] for e in envs] == ["1/3", "2/3", "3/3"] and all(e["PATH"] == "/bin" for e in envs)
    assert "CUDA_VISIBLE_DEVICES" not in workers.worker_env(0, 2, [], {})


def test_a_process_keeps_its_thread_count_and_refuses_another():
    code = (
        "import tensorflow as tf\n"
        "from rethink_tf import strategy\n"
        "from rethink_tf.config import RunConfig, ConfigError\n"
        "strategy.set_threads(RunConfig(threads=1))\n"
        "tf.constant(1.0) + 1.0\n"
        "strategy.set_threads(RunConfig(threads=1))\n"
        "try:\n"
        "    strategy.set_threads(RunConfig(threads=2))\n"
        "except ConfigError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (
        "--threads=2: TensorFlow's intra-op threads are already set in this process (1); train the run in a new process"
        in out.stdout
    )


def test_sigterm_to_the_parent_stops_every_worker_and_their_runs_say_interrupted(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rethink_tf.experiments.rademacher", f"--results_dir={tmp_path}", *LONG, "--workers=2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    while proc.poll() is None and len(glob.glob(os.path.join(str(tmp_path), "*", records.RECORD))) < 2:
        time.sleep(0.05)  # both workers have started a run
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert "stopped by SIGTERM; run the same command again to continue" in err
    recs = [json.load(open(p)) for p in glob.glob(os.path.join(str(tmp_path), "*", records.RECORD))]
    assert len(recs) == 2 and all(r["status"] == records.INTERRUPTED for r in recs)
    assert all(records.claim_holder(os.path.join(str(tmp_path), r["run_name"])) is None for r in recs)


def test_workers_start_no_process_when_no_run_is_left(monkeypatch, capsys):
    # The laptop preset's --workers=2 on a finished grid or on Theorem 1's (no runs): each worker would be a
    # TensorFlow start-up with nothing to train.
    from rethink_tf import config
    from rethink_tf.experiments import engines, workers

    started = []
    monkeypatch.setattr(workers, "start_and_wait", lambda argv, count, prog: started.append(count) or [0] * count)
    cfg = config.RunConfig()
    done = records.RunRecord(status=records.FINISHED)
    engines.Workers(2).train([], None)
    engines.Workers(2).train([("a", cfg, done), ("b", cfg, done)], None)
    assert started == [] and capsys.readouterr().out == "2 of 2 runs already finished; no worker process started\n"
    for unfinished in (None, records.RunRecord(status=records.INTERRUPTED)):  # None: a run another worker holds
        engines.Workers(2).train([("a", cfg, done), ("b", cfg, unfinished)], None)
    assert started == [2, 2] and capsys.readouterr().out.count("2 runs shared by 2 worker processes") == 2


def test_the_engines_are_one_interface_picked_by_the_scale_out_flags(monkeypatch):
    from rethink_tf import cli
    from rethink_tf.experiments import engines, workers

    assert set(engines.ENGINES) == set(cli.ENGINES)  # --engine's choices are the engines there are
    monkeypatch.delenv(workers.WORKER_ENV, raising=False)
    assert engines.for_flags(cli.ScaleOut()) == engines.InProcess()
    assert engines.for_flags(cli.ScaleOut(workers=3)) == engines.Workers(3)
    assert engines.for_flags(cli.ScaleOut(engine="ray", ray_address="auto")) == engines.Ray("auto")
    monkeypatch.setenv(workers.WORKER_ENV, "1/3")  # a worker of --workers=3 trains its share in itself, quietly
    assert engines.for_flags(cli.ScaleOut(workers=3)) == engines.InProcess(say_busy=False)
