"""Run directories: the JSON run record, the claim that marks a run in progress, and resume checks.

Layout of results/<run_name>/:
  record.json   the run record (config, versions, data fingerprints, per-epoch and final metrics)
  claim.json    present while a process trains the run (pid, host); a dead owner's claim is taken over
  backup/       Keras BackupAndRestore state of an unfinished run
  logs/         TensorBoard events: train/, validation/ and the hparams session
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import socket
import sys
from typing import Any

from rethink_tf.config import RunConfig

RECORD, CLAIM, BACKUP, LOGS = "record.json", "claim.json", "backup", "logs"
FORMAT = 1
RUNNING, FINISHED, DIVERGED, INTERRUPTED, FAILED = "running", "finished", "diverged", "interrupted", "failed"
# A run in one of these states has its result; running it again would only repeat it.
DONE = (FINISHED, DIVERGED)


class RunDirError(RuntimeError):
    """The run directory cannot be used: another config's run, a live owner, or a corrupt file."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_json(path: str, data: Any) -> None:
    """Writes JSON atomically: a reader sees the old file or the new one, never a partial one."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True, allow_nan=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str) -> dict[str, Any] | None:
    """The JSON object at path, None if absent; RunDirError if it is not a readable record."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise RunDirError(f"{path} is corrupt ({e}); move it away to start that run again") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path} is corrupt (not a JSON object); move it away to start that run again")
    return data


def read_record(run_dir: str) -> dict[str, Any] | None:
    record = read_json(os.path.join(run_dir, RECORD))
    if record is not None and record.get("format") != FORMAT:
        raise RunDirError(f"{os.path.join(run_dir, RECORD)} has format {record.get('format')!r}, expected {FORMAT}")
    return record


def versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow as tf

    from rethink_tf import __version__
    return {"rethink_tf": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": numpy.__version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")}


def _owner_alive(claim: dict[str, Any]) -> bool:
    if claim.get("host") != socket.gethostname():
        return True  # cannot tell from here: treat as alive
    try:
        os.kill(int(claim.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


def check(config: RunConfig) -> dict[str, Any] | None:
    """The existing record of config's run dir, after checking it may be resumed or skipped.

    Raises RunDirError if the directory holds a run of a different experiment or one that a live
    process is training. Writes nothing.
    """
    run_dir = config.run_dir
    record = read_record(run_dir)
    if record is None:
        strangers = sorted(set(os.listdir(run_dir)) - {CLAIM, BACKUP, LOGS}) if os.path.isdir(run_dir) else []
        if strangers:
            raise RunDirError(f"{run_dir} is not a run directory (it holds {', '.join(strangers[:3])} but no {RECORD}); "
                              "choose another --run_name or --results_dir")
    elif record.get("experiment") != config.experiment():
        theirs = record.get("experiment") or {}
        differ = sorted(k for k in set(theirs) | set(config.experiment()) if theirs.get(k) != config.experiment().get(k))
        raise RunDirError(f"{run_dir} holds a run of a different config (differs in: {', '.join(differ)}); "
                          "choose another --run_name or --results_dir")
    claim = read_json(os.path.join(run_dir, CLAIM))
    if claim is not None and _owner_alive(claim) and claim.get("pid") != os.getpid():
        raise RunDirError(f"{run_dir} is being trained by pid {claim.get('pid')} on {claim.get('host')}; "
                          "wait for it, or stop it first")
    return record


def claim(config: RunConfig) -> None:
    """Marks config's run dir as trained by this process; RunDirError if another live process got it first."""
    run_dir = config.run_dir
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CLAIM)
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "since": now()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other = read_json(path) or {}
            if _owner_alive(other) and other.get("pid") != os.getpid():
                raise RunDirError(f"{run_dir} is being trained by pid {other.get('pid')} on {other.get('host')}") from None
            os.remove(path)  # a dead owner's claim
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(mine, f)
        return
    raise RunDirError(f"could not claim {run_dir}")


def release(config: RunConfig) -> None:
    try:
        os.remove(os.path.join(config.run_dir, CLAIM))
    except FileNotFoundError:
        pass


def new_record(config: RunConfig, **fields: Any) -> dict[str, Any]:
    return {"format": FORMAT, "status": RUNNING, "run_name": os.path.basename(config.run_dir),
            "experiment": config.experiment(), "config": dataclasses.asdict(config), "versions": versions(),
            "host": socket.gethostname(), "started": now(), "updated": now(), "epochs": [], "final": None,
            "wall_time_s": 0.0, **fields}


def save(config: RunConfig, record: dict[str, Any]) -> None:
    record["updated"] = now()
    write_json(os.path.join(config.run_dir, RECORD), record)
