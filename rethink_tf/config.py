"""The frozen RunConfig: everything one training run depends on, and the checks of its values.

The top of the one-way flow (flags -> config -> data -> model -> training -> record -> report): it imports
nothing of rethink_tf but its errors. The choices that lower modules own (models, data sets, corruptions) are checked by
rethink_tf.runs against their registries; the flags that fill a RunConfig are defined in rethink_tf.cli.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from rethink_tf.errors import BadInput

# Fields that say where a run lives, where its data is read from, how it reports or how its steps are
# dispatched, not what it computes: two configs that differ only in these describe the same experiment (and
# the same numbers). A run's data is identified by its fingerprints instead of the data's location.
PLACEMENT_FIELDS = (
    "preset",
    "results_dir",
    "run_name",
    "verbose",
    "steps_per_execution",
    "data_dir",
    "idx_dir",
    "cifar_archive",
    "download",
    "manual_dir",
    "measures",
    "allow_mixed_environment",
)
# Corruptions that replace every training label (rethink_tf.data.corrupt.ALL_LABELS_CORRUPTIONS, which a test
# keeps equal to this: config may not import the data package below it).
ALL_LABELS_CORRUPTIONS = ("random_labels", "random_signs")


class ConfigError(BadInput, ValueError):
    """A flag value that cannot run; the message names the flag and what is allowed."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one training run depends on. learning_rate None means the model's default, which
    rethink_tf.runs.resolve fills in before a run trains."""

    preset: str = ""
    model: str = "inception_small"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    idx_dir: str | None = None
    cifar_archive: str | None = None
    download: bool = False
    manual_dir: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    image_size: int = 0
    train_size: int = 0
    test_size: int = 0
    rgb: bool = True
    crop_size: int = 0
    corruption: str = "true_labels"
    corrupt: float = 0.0
    corrupt_test_labels: bool = False
    gaussian_stats: str = "global"
    random_crop: bool = False
    augment: bool = False
    weight_decay: float = 0.0
    dropout: float = 0.0
    batch_norm: bool = True
    bn_momentum: float = 0.99
    learning_rate: float | None = None
    lr_decay: float = 0.95
    lr_decay_examples: int = 0
    momentum: float = 0.9
    batch_size: int = 128
    epochs: int = 60
    crop_epochs: int = 0
    random_label_epochs: int = 0
    stop_when_fit: bool = False
    eval_every: int = 1
    curve_test_size: int = 0
    measures: bool = True
    seed: int = 0
    deterministic: bool = True
    precision: str = "float32"
    cpu_devices: int = 1
    threads: int = 0
    steps_per_execution: int = 16
    allow_mixed_environment: bool = False
    results_dir: str = "results"
    run_name: str = ""
    verbose: int = 2

    @property
    def label_noise(self) -> float:
        """The probability p that a training label is replaced by a uniform random class."""
        return 1.0 if self.corruption == "random_labels" else self.corrupt

    @property
    def epoch_budget(self) -> tuple[int, str]:
        """The most epochs the run trains, and the flag that sets it: --crop_epochs for a run with random
        crop, --random_label_epochs for a run whose every training label is random (when set), else --epochs."""
        if self.random_crop and self.crop_epochs:
            return self.crop_epochs, "crop_epochs"
        if self.corruption in ALL_LABELS_CORRUPTIONS and self.random_label_epochs:
            return self.random_label_epochs, "random_label_epochs"
        return self.epochs, "epochs"

    @property
    def max_epochs(self) -> int:
        return self.epoch_budget[0]

    @property
    def epoch_budget_note(self) -> str | None:
        """A sentence when the budget is not --epochs, so that the override is never silent."""
        epochs, flag = self.epoch_budget
        if flag == "epochs" or epochs == self.epochs:
            return None
        why = "a run with random crop" if flag == "crop_epochs" else "every training label is random"
        return f"at most {epochs} epochs (--{flag}={epochs}: {why}), not --epochs={self.epochs}"

    @property
    def run_dir(self) -> str:
        return os.path.join(self.results_dir, self.run_name or default_run_name(self))

    def experiment(self) -> dict[str, Any]:
        """The fields that determine the run's numbers (placement fields left out)."""
        return experiment_fields(dataclasses.asdict(self))

    def validate(self) -> "RunConfig":
        """Raises ConfigError for the first value that cannot run; returns self. Names are checked against
        the registries by rethink_tf.runs.resolve."""

        def need(ok: bool, flag: str, allowed: str) -> None:
            if not ok:
                raise ConfigError(f"--{flag}={getattr(self, flag)!r} is not allowed: {allowed}")

        for flag in ("corrupt", "weight_decay", "dropout", "bn_momentum", "lr_decay", "momentum"):
            need(math.isfinite(getattr(self, flag)), flag, "a finite number")
        need(0.0 <= self.corrupt <= 1.0, "corrupt", "a probability in [0, 1]")
        need(
            self.corruption not in ALL_LABELS_CORRUPTIONS or self.corrupt in (0.0, 1.0),
            "corrupt",
            f"--corruption={self.corruption} already means --corrupt=1; give one or the other",
        )
        for flag in ("train_size", "test_size", "curve_test_size"):
            need(getattr(self, flag) >= 0, flag, "a size >= 0 (0 means the whole split)")
        for flag in ("crop_epochs", "random_label_epochs"):
            need(getattr(self, flag) >= 0, flag, "an integer >= 0 (0: --epochs)")
        for flag in ("batch_size", "epochs", "eval_every", "steps_per_execution"):
            need(getattr(self, flag) >= 1, flag, "an integer >= 1")
        need(self.crop_size >= 0, "crop_size", "a side >= 1, or 0 for the data's own (28 for 28x28, 32x32)")
        need(self.image_size >= 0, "image_size", "a side in pixels >= 1, or 0 to keep the source's size")
        need(0.0 <= self.dropout < 1.0, "dropout", "a rate in [0, 1) (0 turns it off)")
        for flag in ("train_split", "test_split"):
            need(bool(getattr(self, flag)), flag, "a tfds split name, e.g. train, test, validation")
        need(
            self.learning_rate is None or (math.isfinite(self.learning_rate) and self.learning_rate > 0),
            "learning_rate",
            "a finite number > 0",
        )
        need(0 < self.lr_decay <= 1, "lr_decay", "a factor in (0, 1]")
        need(self.lr_decay_examples >= 0, "lr_decay_examples", "a number of examples >= 0 (0: decay every epoch)")
        need(0 <= self.momentum < 1, "momentum", "a number in [0, 1)")
        need(0 <= self.bn_momentum < 1, "bn_momentum", "a number in [0, 1)")
        need(self.weight_decay >= 0, "weight_decay", "an L2 coefficient >= 0 (0 turns it off)")
        need(self.seed >= 0, "seed", "an integer >= 0")
        need(self.cpu_devices >= 1, "cpu_devices", "an integer >= 1")
        need(self.threads >= 0, "threads", "a number of threads >= 1, or 0 for TensorFlow's own (one per core)")
        need(
            not self.run_name or (os.sep not in self.run_name and self.run_name not in (".", "..")),
            "run_name",
            "a plain directory name, no path separators",
        )
        return self


_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}


def experiment_fields(values: dict[str, Any]) -> dict[str, Any]:
    """A config dict (a record's, maybe of an older version) as the fields that determine the numbers: placement
    fields dropped, a field added since it was written counted with its default (which reproduces the old runs)."""
    out = {**_DEFAULTS, **{k: v for k, v in values.items() if k in _FIELDS}}
    for name in PLACEMENT_FIELDS:
        out.pop(name)
    return out


def explicit_regularizers(values: dict[str, Any]) -> set[str]:
    """Which of the paper's explicit regularizers a config (a record's dict) turns on: weight_decay, random_crop,
    augment, dropout. Reports select their runs by it."""
    on = {
        "weight_decay": values["weight_decay"] > 0,
        "random_crop": values["random_crop"],
        "augment": bool(values.get("augment")),
        "dropout": bool(values.get("dropout")),
    }
    return {name for name, enabled in on.items() if enabled}


def from_record(values: dict[str, Any]) -> RunConfig:
    """The RunConfig a record's "config" holds (fields it lacks take their defaults, unknown ones are dropped)."""
    return RunConfig(**{k: v for k, v in values.items() if k in _FIELDS})


def model_key(model: str, batch_norm: bool = True) -> str:
    """The architecture as run names write it: the model, "_nobn" appended without batch norm."""
    return model + ("" if batch_norm else "_nobn")


def dataset_key(dataset: str) -> str:
    """The data set as run names write it: a built-in name, "tfds-NAME[-CONFIG]", or "npz-" / "folder-" and
    the file or folder's name (no path separators)."""
    prefix, sep, rest = dataset.partition(":")
    if not sep:
        return dataset
    if prefix == "tfds":
        return "tfds-" + rest.replace(":", "-")
    base = os.path.basename(os.path.normpath(os.path.expanduser(rest)))
    return f"{prefix}-{os.path.splitext(base)[0] if prefix == 'npz' else base}"


def default_run_name(config: RunConfig) -> str:
    """A readable directory name from the fields a grid varies."""
    parts = [model_key(config.model, config.batch_norm), dataset_key(config.dataset), config.corruption]
    if config.corruption not in ALL_LABELS_CORRUPTIONS and config.corrupt:
        parts.append(f"p{config.corrupt:g}")
    if config.random_crop:
        parts.append("crop")
    if config.augment:
        parts.append("augment")
    if config.weight_decay:
        parts.append(f"wd{config.weight_decay:g}")
    if config.dropout:
        parts.append(f"dropout{config.dropout:g}")
    if config.precision != "float32":
        parts.append(config.precision)
    parts.append(f"seed{config.seed}")
    return "-".join(parts)
