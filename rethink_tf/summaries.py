"""What a run writes for TensorBoard: each epoch's scalars named for what they are, and an HParams session
(the experiment's fields, declared final metrics, the session's end and status).

Written by hand rather than by Keras' TensorBoard callback, which files the test scalars under `validation`,
duplicates them as `evaluation_*_vs_iterations` and cannot declare metrics or end a session. The events are a
function of the run record: a resumed run rewrites them from the record, so no epoch is logged twice.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import time
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary

from rethink_tf import config as config_lib
from rethink_tf import csr, environment, ledger_summaries, measures, models, records
from rethink_tf.data import corrupt

# Time Series shows tag groups (the part before the first "/") in sorted order and opens the first two:
# the numbers put the gap first, then accuracy.
GAP, ACCURACY, LOSS, LEARNING_RATE, FINAL = "1_gap", "2_accuracy", "3_loss", "4_learning_rate", "5_final"
MEASURES = "6_measures"
CSR = "8_csr"  # after rethink_tf.ledger_summaries' 7_ledger

# A record row's key -> (tag, description). "running" is Keras' mean over the epoch's batches while the weights
# change; "test_subset" is evaluated at the epoch's end on the run's fixed, class-stratified curve test set.
EPOCH_TAGS = {
    "generalization_gap": (
        f"{GAP}/train_running_minus_test_subset",
        "the epoch's running training accuracy minus the test-subset accuracy at its end",
    ),
    "accuracy": (f"{ACCURACY}/train_running", "training accuracy, the running mean over the epoch's batches"),
    "val_accuracy": (f"{ACCURACY}/test_subset", "accuracy on the curve test subset, evaluated at the epoch's end"),
    "train_kept_accuracy": (
        f"{ACCURACY}/train_kept",
        "evaluated training accuracy on the examples whose label (or, partial input corruption, input) the "
        "corruption kept",
    ),
    "train_changed_accuracy": (
        f"{ACCURACY}/train_changed",
        "evaluated training accuracy on the examples whose label was changed, against the label trained on (or, "
        "partial input corruption, whose input was corrupted)",
    ),
    "train_changed_true_accuracy": (
        f"{ACCURACY}/train_changed_vs_true_label",
        "evaluated accuracy on the examples whose label was changed, against their true label",
    ),
    "loss": (f"{LOSS}/train_running", "training loss, the running mean over the epoch's batches"),
    "val_loss": (f"{LOSS}/test_subset", "loss on the curve test subset, evaluated at the epoch's end"),
    "learning_rate": (LEARNING_RATE, "SGD's learning rate in the epoch"),
    csr.TRAIN_KEY: (
        f"{CSR}/train_sample",
        "critical sample ratio (Arpit et al.; docs/csr.md) of the fixed training sample at the epoch's end",
    ),
    csr.TEST_KEY: (f"{CSR}/test_sample", "critical sample ratio of the fixed test sample at the epoch's end"),
}

# A record's "final" key -> (tag, the HParams table's column name or None: a scalar, not a declared metric).
FINAL_METRICS = {
    "train_accuracy": (f"{FINAL}/train_accuracy", "train accuracy"),
    "test_accuracy": (f"{FINAL}/test_accuracy", "test accuracy"),
    "generalization_gap": (f"{FINAL}/generalization_gap", "gap"),
    "fit_epoch": (f"{FINAL}/epochs_to_fit", "epochs to fit"),
    "fit_steps": (f"{FINAL}/steps_to_fit", "steps to fit"),
    "train_kept_accuracy": (f"{FINAL}/train_kept_accuracy", "train acc, kept labels"),
    "train_changed_accuracy": (f"{FINAL}/train_changed_accuracy", "train acc, changed labels"),
    "train_changed_true_accuracy": (f"{FINAL}/train_changed_true_accuracy", None),
    "labels_changed": (f"{FINAL}/labels_changed", None),
    "inputs_changed": (f"{FINAL}/inputs_changed", None),
    "epochs_run": (f"{FINAL}/epochs_run", None),
}

# A record's measure -> (tag, the HParams table's column): every measure a declared metric, so the table sorts
# the runs by any of them.
MEASURE_METRICS = {key: (f"{MEASURES}/{key}", name) for key, (name, _) in measures.MEASURES.items()}

# The experiment's own fields as (field, HParams column name, domain). The plugin orders its columns by hparam
# name and shows the first five, so the names are numbered in this order; categorical fields list every value
# they can take, so the table filters them by checkbox and no run falls outside a domain.
_BOOL = hp.Discrete([False, True])
HPARAM_FIELDS = (
    ("model", "model", hp.Discrete(sorted(models.MODELS))),
    ("batch_norm", "batch norm", _BOOL),
    ("corruption", "corruption", hp.Discrete(sorted(corrupt.CORRUPTIONS))),
    ("corrupt", "p (label or input noise)", None),
    ("random_crop", "random crop", _BOOL),
    ("weight_decay", "weight decay", None),
    ("augment", "augment", _BOOL),
    ("corrupt_test_labels", "test labels corrupted", _BOOL),
    ("learning_rate", "learning rate", None),
    ("batch_size", "batch size", None),
    ("seed", "seed", None),
    ("dataset", "dataset", None),
    ("train_size", "train size (0: all)", None),
    ("environment", "compute environment", None),
)
HPARAMS = tuple(
    hp.HParam(f"{i:02d}_{field}", domain, display_name=name) for i, (field, name, domain) in enumerate(HPARAM_FIELDS, 1)
)

# The record's status -> the session status the HParams plugin knows (it has no "diverged" or "interrupted":
# the status text summary names them).
SESSION_STATUS = {
    records.FINISHED: api_pb2.STATUS_SUCCESS,
    records.DIVERGED: api_pb2.STATUS_FAILURE,
    records.FAILED: api_pb2.STATUS_FAILURE,
    records.INTERRUPTED: api_pb2.STATUS_UNKNOWN,
}


def hparam_values(config: config_lib.RunConfig, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's values of HPARAMS, by hparam name; p is the label noise, so a random-labels run shows 1 (a partial
    input corruption's: its input noise, config.corruption_p); the
    environment is the record's (rethink_tf.environment.label; "mixed: ..." for a run resumed in another)."""
    values = {field: getattr(config, field, None) for field, _, _ in HPARAM_FIELDS}
    values["corrupt"] = float(config.corruption_p)
    envs = environment.of_record(record or {})
    values["environment"] = ("mixed: " if len({environment.key(e) for e in envs}) > 1 else "") + " / ".join(
        dict.fromkeys(environment.label(e) for e in envs)
    )
    return {h.name: values[field] for h, (field, _, _) in zip(HPARAMS, HPARAM_FIELDS)}


# Short names of the corruptions for trial IDs (the HParams table shows about 14 characters of one).
_CORRUPTION_CODES = {
    "random_labels": "rand",
    "shuffled_pixels": "shuf-pix",
    "random_pixels": "rand-pix",
    "gaussian": "gauss",
    "random_signs": "signs",
}


def trial_id(config: config_lib.RunConfig) -> str:
    """The run's name in the HParams table, e.g. "crop+wd s0 Inception 1a2b3c": what a grid varies within a model
    and the seed first, so that the table's truncated IDs still tell the rows apart, then a hash of the experiment's
    fields: runs that differ in anything else (learning rate, data set, ...) must not share a row, which the
    plugin would average."""
    what = [_CORRUPTION_CODES.get(config.corruption, "")]
    if config.corruption not in config_lib.ALL_LABELS_CORRUPTIONS and config.corrupt:
        what.append(f"p={config.corrupt:g}")
    what += [
        name for name, on in (("crop", config.random_crop), ("aug", config.augment), ("wd", config.weight_decay)) if on
    ]
    arch = ("" if config.batch_norm else "noBN ") + models.MODELS[config.model].paper_name.replace(" ", "")
    digest = hashlib.sha256(json.dumps(config.experiment(), sort_keys=True).encode()).hexdigest()[:6]
    return f"{'+'.join(w for w in what if w) or 'none'} s{config.seed} {arch} {digest}"


def final_values(record: dict[str, Any]) -> dict[str, float]:
    """The record's final numbers as FINAL_METRICS keys (absent ones, e.g. a run that never fit, left out)."""
    final = dict(record.get("final") or {})
    if record.steps_to_fit is not None:
        final["fit_steps"] = record.steps_to_fit
    if "train_changed_accuracy" in final:
        final["labels_changed"] = record["data"]["train_labels_changed"]
        if 0 < record["data"].get("train_inputs_changed", 0) < 1:
            final["inputs_changed"] = record["data"]["train_inputs_changed"]
    return {k: float(v) for k, v in final.items() if k in FINAL_METRICS and v is not None}


class Writer:
    """The run's TensorBoard events in its run directory (TensorBoard's run name is the run's); `record` is the
    run's record, read for its environment whenever the session starts again."""

    def __init__(self, config: config_lib.RunConfig, record: dict[str, Any] | None = None):
        self.config = config
        self.record = record
        self._writer = None

    def restart(self, rows: list[dict[str, Any]]) -> None:
        """Starts the run's events again: earlier event files removed, the experiment and session start written,
        then the record's rows so far (a resumed run's epochs before its checkpoint)."""
        self.close()
        for path in glob.glob(os.path.join(self.config.run_dir, records.EVENTS + "*")):
            if not path.endswith(ledger_summaries.FILE_SUFFIX):  # the ledger's tab: ledger_summaries replaces it
                os.remove(path)
        self._writer = tf.summary.create_file_writer(self.config.run_dir)
        with self._writer.as_default():
            hp.hparams_config(
                hparams=list(HPARAMS),
                metrics=[
                    hp.Metric(tag, display_name=name)
                    for tag, name in (*FINAL_METRICS.values(), *MEASURE_METRICS.values())
                    if name
                ],
            )
            hp.hparams(hparam_values(self.config, self.record), trial_id=trial_id(self.config))
        initial = (self.record or {}).get(csr.INITIAL_KEY)  # the CSR before the first step, at step 0
        for row in ([{"epoch": 0, **initial}] if initial else []) + list(rows):
            self.epoch(row)

    def epoch(self, row: dict[str, Any]) -> None:
        with self._writer.as_default():
            for key, (tag, description) in EPOCH_TAGS.items():
                if key in row:
                    tf.summary.scalar(tag, row[key], step=row["epoch"], description=description)
        self._writer.flush()

    def end(self, record: dict[str, Any]) -> None:
        """The final numbers as the declared metrics, the status as text, and the session's end."""
        if self._writer is None:  # ended before its first epoch
            self.restart(record["epochs"])
        step = len(record["epochs"])
        with self._writer.as_default():
            for key, value in final_values(record).items():
                tf.summary.scalar(FINAL_METRICS[key][0], value, step=step)
            for key, value in ((record.get("measures") or {}).get("values") or {}).items():
                tf.summary.scalar(MEASURE_METRICS[key][0], value, step=step)
            tf.summary.text("status", record["status"] + (f": {record['error']}" if record.get("error") else ""), step)
            end = hparams_summary.session_end_pb(SESSION_STATUS[record["status"]], end_time_secs=time.time())
            tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=0)
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def rewrite(config: config_lib.RunConfig, record: dict[str, Any]) -> None:
    """The run's events written again from its record alone (an ended run given its measures afterwards)."""
    writer = Writer(config, record)
    writer.restart(record["epochs"])
    writer.end(record)
