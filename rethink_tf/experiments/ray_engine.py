"""--engine=ray: an experiment's runs as Ray tasks, the results directory on shared storage the one source of truth.

Each unfinished run is one task: one GPU where the cluster has GPUs, else max(1, --threads) CPUs. A task runs
train.run in a fresh worker process (max_calls=1: TensorFlow's thread pool and devices are set once per process),
in the driver's working directory, so relative paths mean on every node what they mean here (the directory must
be mounted at the same path on every node). A task whose worker dies is retried by Ray; the retry finds the run's
claim gone and resumes it from its backup, bit-identical to a run never stopped. Runs already finished are not
submitted; one another process is training is left to it.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from rethink_tf import records, run_measures, settings, train
from rethink_tf.config import RunConfig
from rethink_tf.errors import BadInput

RETRIES = 3  # a run's worker may die this many times (preemption, SIGKILL, a lost node) before the run fails


class RunFailedError(RuntimeError):
    """A run raised on the cluster (not a dead worker: Ray retries those)."""


class RayAddressError(BadInput):
    """--ray_address names a host:port where nothing answers (ray.init would retry it for minutes)."""


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """RayAddressError unless a TCP connection to a HOST:PORT (or ray://HOST:PORT) address opens within
    timeout_s; 'auto' and other forms are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise RayAddressError(
            f"--ray_address={address}: nothing answers at {host}:{port} ({e.strerror or e}); start the cluster's "
            f"head there (ray start --head --port={port}) or give the address it printed, or leave --ray_address "
            "unset for a Ray on this machine"
        ) from None


def _train_one(label: str, config: RunConfig, cwd: str) -> dict[str, Any] | str:
    """The task: one run, trained or resumed; its record, or why it was left to another worker."""
    if os.path.isdir(cwd):
        os.chdir(cwd)
    try:
        return train.run(config, progress=label)
    except records.RunBusyError as e:
        return f"left to its worker: {e}"


def pending(runs: list[tuple[str, RunConfig]]) -> list[tuple[str, RunConfig]]:
    """The runs that have no finished result yet (a finished run missing its measures counts as unfinished)."""
    out = []
    for label, cfg in runs:
        record = records.read_record(cfg.run_dir)
        if record is None or record["status"] not in records.DONE or run_measures.lacking(cfg, record):
            out.append((label, cfg))
    return out


# Ray's own switch for a cluster of one machine: every Ray process then binds 127.0.0.1 (on Linux Ray otherwise
# replaces 127.0.0.1, even when given as --node-ip-address, by the machine's outward address). Read at import.
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def connect(address: str | None) -> None:
    """Joins the Ray cluster at `address`, or starts one on this machine, bound to 127.0.0.1, with every core."""
    if not address:
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    else:
        check_reachable(address)
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(include_dashboard=False, log_to_driver=True)


def train_all(runs: list[tuple[str, RunConfig]], address: str | None = None) -> None:
    """Trains every unfinished run as a Ray task on the cluster at `address` (None: a local one) and returns when
    all have ended, printing one line per run; raises RunFailedError naming the runs that raised."""
    import ray

    todo = pending(runs)
    print(f"{len(runs) - len(todo)} of {len(runs)} runs already finished; {len(todo)} to Ray", flush=True)
    if not todo:
        return
    connect(address)
    gpus = ray.cluster_resources().get("GPU", 0)
    # The command line's settings (oneDNN) in every task's worker, on every node: `import rethink_tf` sets none.
    env_vars = {name: os.environ[name] for name in settings.COMMAND_LINE_ENV if name in os.environ}
    task = ray.remote(max_retries=RETRIES, max_calls=1)(_train_one)
    refs = {
        task.options(
            **({"num_gpus": 1} if gpus else {"num_cpus": max(1, cfg.threads)}), runtime_env={"env_vars": env_vars}
        ).remote(label, cfg, os.getcwd()): label
        for label, cfg in todo
    }
    failed = []
    while refs:
        (ref,), _ = ray.wait(list(refs), num_returns=1)
        label = refs.pop(ref)
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as e:
            failed.append(label)
            print(f"{label} failed on the cluster: {str(e).splitlines()[-1]}", flush=True)
            continue
        print(f"{label} {result if isinstance(result, str) else train.summary(result)}", flush=True)
    if failed:
        raise RunFailedError(f"{len(failed)} runs failed on the cluster: {', '.join(failed)} (their errors above)")
