"""Keras callbacks for what the standard ones do not log or decide: the generalization gap, training accuracy
on changed and kept labels, the paper's stop at 100% training accuracy, the epoch seen by the input pipeline,
the run record and its TensorBoard events, and a backup that a kill cannot leave half-written."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from rethink_tf import records, summaries


class EpochVariable(keras.callbacks.Callback):
    """Sets the variable the training pipeline reads its epoch's order from (resume-safe)."""

    def __init__(self, epoch: tf.Variable):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


class GeneralizationGap(keras.callbacks.Callback):
    """Adds generalization_gap = train accuracy - test accuracy to the epoch logs (when tested)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "accuracy" in logs and "val_accuracy" in logs:
            logs["generalization_gap"] = float(logs["accuracy"]) - float(logs["val_accuracy"])


LABEL_SPLIT_KEYS = ("train_kept_accuracy", "train_changed_accuracy", "train_changed_true_accuracy")


def label_split_accuracies(
    predicted: np.ndarray, labels: np.ndarray, true_labels: np.ndarray, changed: np.ndarray | None = None
) -> dict[str, float]:
    """Accuracy of predicted classes on the examples whose label was kept and on those changed (against the
    label trained on, and against the true one): has the net memorized the changed labels, or learned the kept?
    `changed` says which examples the corruption changed where that is not their label alone (a partial input
    corruption's corrupted inputs, whose labels are true)."""
    changed = labels != true_labels if changed is None else np.asarray(changed, bool)
    kept = ~changed

    def mean(hits: np.ndarray) -> float:
        return float(np.mean(hits)) if len(hits) else float("nan")

    hits = (
        predicted[kept] == labels[kept],
        predicted[changed] == labels[changed],
        predicted[changed] == true_labels[changed],
    )
    return {key: mean(h) for key, h in zip(LABEL_SPLIT_KEYS, hits)}


class TrainingSetPass(keras.callbacks.Callback):
    """At every epoch's end, one prediction pass over every training example (held-out ones too): from its
    logits the training accuracy on kept and changed examples into the logs (0 < p < 1, trained examples only: a
    changed label, or a corrupted input of a partial input corruption), and
    the per-example ledger's row with the curve test subset's (--ledger), saved before the record and the backup.
    One pass for both, so the ledger's correct bits re-derive the logged accuracies exactly. On resume the
    ledger's rows past the restored epoch are dropped and computed again."""

    def __init__(self, dataset, split, trained: np.ndarray, label_split: bool, ledger_rows=None):
        super().__init__()
        self.dataset, self.split, self.trained, self.label_split = dataset, split, trained, label_split
        self.ledger_rows = ledger_rows  # (ledger.Ledger, curve dataset, save callable) or None

    def on_epoch_begin(self, epoch, logs=None):
        if self.ledger_rows:
            self.ledger_rows[0].drop_from(epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        logits = np.asarray(self.model.predict(self.dataset, verbose=0), np.float32)
        if self.label_split and logs is not None:
            t = self.trained
            predicted = np.argmax(logits[t], axis=-1)
            split = self.split
            logs.update(label_split_accuracies(predicted, split.labels[t], split.true_labels[t], split.changed[t]))
        if self.ledger_rows:
            ledger, curve_ds, save = self.ledger_rows
            ledger.append(epoch + 1, logits, self.model.predict(curve_ds, verbose=0))
            save()


class StopWhenFit(keras.callbacks.Callback):
    """Stops training after the first epoch whose training accuracy is 100% (the paper's "fit")."""

    def on_epoch_end(self, epoch, logs=None):
        if logs and float(logs.get("accuracy", 0.0)) >= 1.0:
            self.model.stop_training = True


class RunRecordWriter(keras.callbacks.Callback):
    """Appends each epoch's metrics to the run record and saves it; on resume, drops epochs past the
    restored checkpoint. `save` writes the record; `wall_time` gives seconds so far."""

    def __init__(self, record: dict[str, Any], save: Callable[[], None], wall_time: Callable[[], float]):
        super().__init__()
        self.record, self.save, self.wall_time = record, save, wall_time
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        del self.record["epochs"][epoch:]
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "epoch_time_s": time.perf_counter() - self._epoch_start}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        if "learning_rate" not in row:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.record["epochs"].append(row)
        self.record["wall_time_s"] = self.wall_time()
        self.save()


class EpochSummaries(keras.callbacks.Callback):
    """Writes each epoch's record row to TensorBoard (after RunRecordWriter, in the callback list). The first
    epoch of a fit call starts the events again from the record's rows before it, so a resumed run logs each
    epoch once."""

    def __init__(self, writer: summaries.Writer, record: dict[str, Any]):
        super().__init__()
        self.writer, self.record = writer, record
        self._started = False

    def _start(self, epoch: int) -> None:
        self.writer.restart(self.record["epochs"][:epoch])
        self._started = True

    def on_epoch_begin(self, epoch, logs=None):
        if not self._started:
            self._start(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.writer.epoch(self.record["epochs"][-1])

    def on_train_end(self, logs=None):
        if not self._started:  # resumed after its last epoch: nothing left to train
            self._start(len(self.record["epochs"]))


class Progress(keras.callbacks.Callback):
    """One line per epoch: a prefix (which row or run), accuracies, the gap, and this run's ETA (an upper
    bound when the run may stop early at 100% training accuracy)."""

    def __init__(self, prefix: str, epochs: int):
        super().__init__()
        self.prefix, self.epochs = prefix, epochs
        self._start, self._first = 0.0, None

    def on_epoch_begin(self, epoch, logs=None):
        if self._first is None:
            self._first, self._start = epoch, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        per_epoch = (time.perf_counter() - self._start) / (epoch + 1 - self._first)
        test = f" test acc {logs['val_accuracy']:.3f}" if "val_accuracy" in logs else ""
        gap = f" gap {logs['generalization_gap']:.3f}" if "generalization_gap" in logs else ""
        if "train_changed_accuracy" in logs:  # corruption 0 < p < 1: the two parts of the training set
            gap += f" (train acc kept {logs['train_kept_accuracy']:.3f} changed {logs['train_changed_accuracy']:.3f})"
        print(
            f"{self.prefix} epoch {epoch + 1}/{self.epochs} train acc {logs.get('accuracy', float('nan')):.3f} "
            f"loss {logs.get('loss', float('nan')):.3f}{test}{gap} eta {per_epoch * (self.epochs - epoch - 1):.0f} s",
            flush=True,
        )


def exponential_decay(
    initial: float, decay: float, epochs_per_decay: float = 1.0
) -> keras.callbacks.LearningRateScheduler:
    """The paper's schedule: the learning rate times `decay` after every epoch (or every
    `epochs_per_decay` epochs, fractionally, to keep a subset's schedule in steps)."""
    return keras.callbacks.LearningRateScheduler(lambda epoch: initial * decay ** (epoch / epochs_per_decay))


def is_nan(value: Any) -> bool:
    return value is None or not math.isfinite(float(value))


# Overrides private parts of Keras' BackupAndRestore (_save_model, _weights_path, ...): tests/test_callbacks.py.
class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore whose backup is replaced whole. Keras overwrites latest.weights.h5 and then
    training_metadata.json in place, so a kill between the two resumes the new weights at the old epoch;
    here each backup is written to <dir>.new, then swapped in by two renames, which on_train_begin finishes
    if a kill fell between them. Keras' own code reads the backup back."""

    def on_train_begin(self, logs=None):
        new, old = self.backup_dir + ".new", self.backup_dir + ".old"
        if not os.path.exists(self.backup_dir) and os.path.exists(old):
            os.rename(new, self.backup_dir)  # <dir>.new was complete: it is renamed only after it is written
        for leftover in (new, old):
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            super().on_train_begin(logs)
        except ValueError as e:  # Keras' message lists every weight it could not load, values and all
            lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
            cause = next((line for line in lines if "shape" in line), lines[0]).split(" Target variable:")[0][:300]
            raise records.RunDirError(
                f"the backup {self.backup_dir} does not fit this model, so the run cannot resume from it ({cause}). "
                f"Remove {self.backup_dir} to train the run again from epoch 1."
            ) from None

    def _save_model(self):
        new, old = self.backup_dir + ".new", self.backup_dir + ".old"
        shutil.rmtree(new, ignore_errors=True)
        os.makedirs(new)
        self.model.save_weights(os.path.join(new, os.path.basename(self._weights_path)))
        with open(os.path.join(new, os.path.basename(self._training_metadata_path)), "w") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(self.backup_dir):
            os.rename(self.backup_dir, old)
        os.rename(new, self.backup_dir)
        shutil.rmtree(old, ignore_errors=True)
