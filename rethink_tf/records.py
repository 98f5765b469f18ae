"""Run directories: the JSON run record, the claim that marks a run in progress, and resume checks.

Layout of results/<run_name>/:
  record.json   the run record (config, versions, data fingerprints, per-epoch and final metrics, and once
                finished the generalization measures of the trained net)
  claim.json    the claim: a kernel lock (flock) on it, and the pid and host of the process that trains the
                run; it dies with its process, so the next worker takes the run over
  backup/       the BackupAndRestore state of an unfinished run (weights, optimizer, epoch)
  initial.weights.h5  the model's weights before its first step (Keras save_weights): distance-from-
                initialization measures read them; the same bits as a model rebuilt from the record's config
  final.weights.h5  the trained model's weights (Keras save_weights), once the run has ended
  events.out.tfevents.*  TensorBoard events (rethink_tf.summaries): per-epoch scalars and the hparams session,
                rewritten from the record when the run resumes
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import platform
import socket
import sys
import tempfile
import time
from typing import Any

from rethink_tf import atomic, run_record
from rethink_tf.config import RunConfig, experiment_fields
from rethink_tf.errors import BadInput
from rethink_tf.ledger import FILE as LEDGER

# The statuses too, as callers that hold run directories name them (records.FINISHED); defined with the record.
from rethink_tf.run_record import (  # noqa: F401
    DIVERGED,
    DONE,
    FAILED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    FormatError,
    RunRecord,
    upgrade,
)

RECORD, CLAIM, BACKUP, WEIGHTS = "record.json", "claim.json", "backup", "final.weights.h5"
INITIAL_WEIGHTS = "initial.weights.h5"
EVENTS = "events.out.tfevents."  # the prefix of TensorBoard's event file names
_HELD: dict[str, int] = {}  # run dir -> open claim.json whose lock this process holds


class RunDirError(BadInput, RuntimeError):
    """The run directory cannot be used: another config's run, a live owner, or a corrupt file."""


class RunBusyError(RunDirError):
    """Another live process trains the run: a grid worker leaves it to that process."""


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


write_json = atomic.write_json


def check_results_dir(results_dir: str) -> None:
    """RunDirError unless results_dir is a directory this process can write, or can be created; writes nothing
    that stays (a temporary file, removed at once, is the only test of writing that also holds for root)."""
    if os.path.exists(results_dir) and not os.path.isdir(results_dir):
        raise RunDirError(
            f"--results_dir={results_dir} is a file, not a directory; pass a directory (it is created if missing)"
        )
    parent = os.path.abspath(results_dir)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise RunDirError(f"--results_dir={results_dir} cannot be created: {parent} is a file; pass another directory")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as e:
        raise RunDirError(
            f"--results_dir={results_dir} cannot be written ({parent}: {e.strerror}); pass a directory you can write to"
        ) from None


def differences(theirs: dict[str, Any], mine: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two experiment dicts: the one rule for "is this result mine"."""
    return sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k))


def check_data(where: str, fingerprints: dict[str, str] | None, mine: dict[str, str]) -> None:
    """RunDirError if a stored result was computed on other data: any fingerprint both know differs. A run's
    data is identified by these, not by where its files were read from."""
    differ = sorted(k for k in mine if k in (fingerprints or {}) and fingerprints[k] != mine[k])
    if differ:
        raise RunDirError(
            f"{where} holds a result on other data (fingerprints differ: {', '.join(differ)}); "
            "choose another --run_name or --results_dir, or bring back the data it was made from"
        )


def check_result(path: str, experiment: dict[str, Any], fingerprints: dict[str, str]) -> dict[str, Any] | None:
    """The stored result at path if it was computed for this experiment on this data, None if there is none;
    RunDirError if it holds another's (the same rule as check() for runs)."""
    stored = read_json(path)
    if stored is None:
        return None
    theirs = stored.get("experiment")
    theirs = theirs if isinstance(theirs, dict) else stored  # an older result kept these fields at its top
    # A key an older result does not have is not compared: its fingerprints, compared below, decide.
    differ = differences(
        {k: theirs[k] for k in experiment if k in theirs}, {k: v for k, v in experiment.items() if k in theirs}
    )
    if differ:
        raise RunDirError(
            f"{path} holds a result of other flags (differs in: {', '.join(differ)}); pass another "
            "--results_dir or move that file away"
        )
    check_data(path, stored.get("fingerprints"), fingerprints)
    return stored


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


def read_record(run_dir: str) -> RunRecord | None:
    """The run record of run_dir (upgraded from an older format), None if there is none; RunDirError if it cannot
    be read."""
    path = os.path.join(run_dir, RECORD)
    return _upgraded(path, read_json(path))


def _upgraded(path: str, record: dict[str, Any] | None) -> RunRecord | None:
    if record is None:
        return None
    try:
        return upgrade(record, path)
    except FormatError as e:
        raise RunDirError(f"{e}; read it with the rethink_tf that wrote it, or move it away") from None


def load_all(results_dir: str) -> list[RunRecord]:
    """Every run record directly under results_dir (one run directory each), in name order: what every report
    is built from."""
    out = []
    for name in sorted(os.listdir(results_dir)) if os.path.isdir(results_dir) else []:
        path = os.path.join(results_dir, name, RECORD)
        record = read_json(path) if os.path.isfile(path) else None
        if record is None or record.get("experiment") == "theorem1":
            continue  # not a run dir, or a Theorem 1 result from before they were named result.json
        out.append(_upgraded(path, record))
    return out


def lowest_seed(recs: list[RunRecord]) -> list[RunRecord]:
    """The records of the lowest seed among them: a figure draws one seed (--seed, 0 unless given) where a
    results dir may hold more (Table 1's random-label rows repeat with --seed + 1, ...)."""
    seeds = [r.config.seed for r in recs]
    return [r for r in recs if r.config.seed == min(seeds)] if seeds else []


def versions() -> dict[str, Any]:
    import keras
    import numpy
    import tensorflow as tf

    from rethink_tf.version import __version__

    return {
        "rethink_tf": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", ""),
        "onednn": onednn_enabled(),
    }


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN kernels in this process, asked of TensorFlow: the environment
    variable counts only if it was set before TensorFlow loaded. None where this TensorFlow cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # no public API tells

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def claim_holder(run_dir: str) -> dict[str, Any] | None:
    """The pid and host of the live process that holds run_dir's claim ({} if it has not written them yet),
    or None when no other process holds it. The claim is a kernel lock on claim.json, so a process that dies,
    even by SIGKILL, holds nothing."""
    if run_dir in _HELD:
        return None
    try:
        fd = os.open(os.path.join(run_dir, CLAIM), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(os.read(fd, 4096) or b"{}")
            except ValueError:
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _busy(run_dir: str, holder: dict[str, Any]) -> RunBusyError:
    who = f"pid {holder['pid']} on {holder['host']}" if holder else "another process"
    return RunBusyError(f"{run_dir} is being trained by {who}; wait for it, or stop it first")


def check(config: RunConfig) -> RunRecord | None:
    """The existing record of config's run dir, after checking it may be resumed or skipped.

    Raises RunBusyError if a live process trains the run, RunDirError if the directory holds a run of
    a different experiment, an unfinished run of another version, or a file that cannot be read. Writes nothing.
    """
    run_dir = config.run_dir
    holder = claim_holder(run_dir)
    if holder is not None:
        raise _busy(run_dir, holder)
    record = read_record(run_dir)
    if record is None:
        # Ours, temporary names included (another worker may be writing its first record right now).
        strangers = sorted(
            name
            for name in (os.listdir(run_dir) if os.path.isdir(run_dir) else [])
            if not name.startswith((RECORD, CLAIM, BACKUP, EVENTS, WEIGHTS, INITIAL_WEIGHTS, LEDGER))
        )
        if strangers:
            raise RunDirError(
                f"{run_dir} is not a run directory (it holds {', '.join(strangers[:3])} but no {RECORD}); "
                "choose another --run_name or --results_dir"
            )
    else:
        differ = differences(experiment_fields(record.get("experiment") or {}), config.experiment())
        if differ:
            raise RunDirError(
                f"{run_dir} holds a run of a different config (differs in: {', '.join(differ)}); "
                "choose another --run_name or --results_dir"
            )
        _check_partial_inputs(run_dir, record)
        if not record.done:
            _check_version(run_dir, record)
            _check_backup(os.path.join(run_dir, BACKUP))
    return record


def _check_partial_inputs(run_dir: str, record: RunRecord) -> None:
    """RunDirError for a run of gaussian or random_pixels at 0 < --corrupt < 1 recorded before that meant a fraction
    of the inputs (its data block lacks train_inputs_changed): then every input was corrupted and --corrupt was label
    noise, another experiment under the same name and flags, which neither counts as done nor resumes."""
    config, data = record.config, record.get("data")
    if 0 < config.corrupted_inputs < 1 and data and "train_inputs_changed" not in data:
        raise RunDirError(
            f"{run_dir} holds a run of rethink_tf {record.version} whose --corruption={config.corruption} "
            f"--corrupt={config.corrupt:g} corrupted every input and {config.corrupt:g} of the labels; now it corrupts "
            "that fraction of the training inputs; move the directory away to train the run again"
        )


# Earlier versions whose runs train to this version's numbers, bit for bit (0.6 changed the generalization
# measures, computed after training, and no training number): their unfinished runs resume here.
SAME_TRAINING = ("0.5.0",)


def _check_version(run_dir: str, record: RunRecord) -> None:
    """RunDirError if an unfinished run was started by another version of rethink_tf: the version changes when
    the numbers of a run do, and a run resumed across the change would have the numbers of neither (versions in
    SAME_TRAINING changed none)."""
    from rethink_tf.version import __version__

    theirs = record.version
    if theirs != __version__ and theirs not in SAME_TRAINING:
        raise RunDirError(
            f"{run_dir} holds an unfinished run started by rethink_tf {theirs}, whose numbers differ "
            f"from this version's ({__version__}); finish it with rethink_tf {theirs}, or move the "
            "directory away to train the run again from epoch 1"
        )


def _check_backup(backup_dir: str) -> None:
    """RunDirError if the backup a resume would load cannot be read (a damaged disk, or a hand edit)."""
    import h5py

    weights, metadata = (os.path.join(backup_dir, name) for name in ("latest.weights.h5", "training_metadata.json"))
    if not os.path.exists(weights):
        return
    try:
        with h5py.File(weights, "r"):
            pass
        with open(metadata) as f:
            epoch = json.load(f)["epoch"]
        if not isinstance(epoch, int):
            raise ValueError(f"epoch {epoch!r}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunDirError(
            f"{backup_dir} is corrupt ({type(e).__name__}: {e}); move it away to train that run again from epoch 1"
        ) from None


def claim(config: RunConfig) -> None:
    """Locks config's run dir for this process until release(); RunBusyError if a live process holds it.
    A few short retries let a concurrent claim_holder() probe of another worker pass."""
    run_dir = config.run_dir
    os.makedirs(run_dir, exist_ok=True)
    fd = os.open(os.path.join(run_dir, CLAIM), os.O_RDWR | os.O_CREAT, 0o644)
    for _ in range(5):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            time.sleep(0.05)
    else:
        os.close(fd)
        raise _busy(run_dir, claim_holder(run_dir) or {})
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now()}).encode())
    _HELD[run_dir] = fd


def release(config: RunConfig) -> None:
    """Unlocks the run dir. claim.json stays (emptied): removing it would let two later workers lock two
    different files of one name."""
    fd = _HELD.pop(config.run_dir, None)
    if fd is not None:
        os.ftruncate(fd, 0)
        os.close(fd)


def new_record(config: RunConfig, **fields: Any) -> RunRecord:
    """A run's first record (rethink_tf.run_record.new), stamped with this host and time."""
    return run_record.new(config, versions(), host=socket.gethostname(), started=now(), updated=now(), **fields)


def save(config: RunConfig, record: dict[str, Any]) -> None:
    record["updated"] = now()
    write_json(os.path.join(config.run_dir, RECORD), record)


# ------------------------------------------------------------------------------------------------------------
# The record's blocks, built from what a run has in hand (rethink_tf.run_record documents their keys)
# ------------------------------------------------------------------------------------------------------------


def data_block(config: RunConfig, data, curve) -> dict[str, Any]:
    """What the run trained and tested on (a rethink_tf.data.pipeline.Prepared, and the test split of its curves):
    source, counts, shapes and the fingerprints a resume checks."""
    return {
        "source": config.dataset,
        "origin": data.origin,
        "train_examples": len(data.train.labels),
        "test_examples": len(data.test.labels),
        "curve_test_examples": len(curve.labels),
        "num_classes": data.num_classes,
        "class_names": list(data.class_names) if data.class_names else None,
        "image_shape": list(data.image_shape),
        "input_shape": list(data.input_shape),
        "train_labels_changed": data.labels_changed,
        "train_inputs_changed": data.inputs_changed,  # 1: every input, 0 < p < 1: a partial input corruption's
        "fingerprints": data.fingerprints,
        # --train_fraction < 1: the canonical indices of the training examples held out (the ledger evaluates them)
        "held_out_indices": None if data.held_out is None else data.held_out.indices.tolist(),
    }


def epoch_budget_block(config: RunConfig) -> dict[str, Any]:
    """The most epochs the run trains, the flag that sets it and, when that is not --epochs, why."""
    return {"max_epochs": config.max_epochs, "flag": config.epoch_budget[1], "note": config.epoch_budget_note}


def model_block(config: RunConfig, model, input_shape, num_classes: int) -> dict[str, Any]:
    """The built model's name in the paper and its parameter counts (ours, the paper's where it gives one, Keras')."""
    from rethink_tf import models

    return {
        "paper_name": models.MODELS[config.model].paper_name,
        "param_count": models.paper_param_count(model),
        "paper_param_count": models.published_param_count(config.model, input_shape, num_classes),
        "keras_count_params": model.count_params(),
    }


def final_block(
    train_eval: dict[str, float], test_eval: dict[str, float], epochs: list[dict[str, Any]], label_split: dict
) -> dict[str, Any]:
    """The final numbers (rethink_tf.run_record.Final's fields) from Keras' evaluations of the trained model on the
    whole training and test sets, the epochs run and, for 0 < p < 1, the last epoch's kept / changed accuracies."""
    final = {
        "train_accuracy": float(train_eval["accuracy"]),
        "train_loss": float(train_eval["loss"]),
        "test_accuracy": float(test_eval["accuracy"]),
        "test_loss": float(test_eval["loss"]),
        "generalization_gap": float(train_eval["accuracy"]) - float(test_eval["accuracy"]),
        "epochs_run": len(epochs),
        "fit_epoch": next((row["epoch"] for row in epochs if row.get("accuracy", 0.0) >= 1.0), None),
    }
    if "top5_accuracy" in train_eval:
        final.update(
            train_top5_accuracy=float(train_eval["top5_accuracy"]),
            test_top5_accuracy=float(test_eval["top5_accuracy"]),
        )
    return {**final, **label_split}
