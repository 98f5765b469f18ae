"""--workers=N: N local processes share an experiment's runs through the run directories' claims.

Each worker is the same command with --workers=1 and RETHINK_TF_WORKER set, which trains runs and writes no
report; the runs' claims (rethink_tf.records) keep two workers off one run. A worker trains every run at the
run's own --threads, so a run's bits do not depend on how many workers share the grid; with GPUs, each worker
sees one (CUDA_VISIBLE_DEVICES). subprocess rather than multiprocessing: TensorFlow's thread pools and devices
are set once per process, and a fresh interpreter per worker is the one way to give each its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

WORKER_ENV = "RETHINK_TF_WORKER"  # "k/N" in a worker process: train only, the parent reports


def is_worker() -> bool:
    return bool(os.environ.get(WORKER_ENV))


def worker_env(index: int, count: int, gpus: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of worker `index` (0-based) of `count`: the marker, and one GPU of `gpus` (the visible
    ones, by CUDA id) when there are GPUs, round robin when there are more workers than GPUs."""
    env = dict(os.environ if environ is None else environ)
    env[WORKER_ENV] = f"{index + 1}/{count}"
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    return env


def visible_gpus() -> list[str]:
    """The CUDA ids of the GPUs this process may use, as CUDA_VISIBLE_DEVICES names them."""
    import tensorflow as tf

    count = len(tf.config.list_physical_devices("GPU"))
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [g.strip() for g in given.split(",") if g.strip()] if given else [str(i) for i in range(count)]
    return ids[:count]


def start_and_wait(argv: list[str], count: int, module: str) -> list[int]:
    """Starts `count` workers of `python -m module` with the command line argv (sys.argv[1:]), each with
    --workers=1, waits for all of them and returns their exit statuses; their output is this process's.
    SIGINT or SIGTERM here stops them (their runs' records say "interrupted") and is raised again."""
    gpus = visible_gpus()
    procs = [
        subprocess.Popen([sys.executable, "-m", module, *argv, "--workers=1"], env=worker_env(k, count, gpus))
        for k in range(count)
    ]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait()
        raise
    return codes
