"""Command-line flags, their validation, and the frozen RunConfig they resolve to.

Flags are defined here and only here; library code receives a RunConfig and never reads FLAGS.
A preset flagfile (flags/presets/<preset>.flags) supplies defaults for every flag the command
line does not set.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from absl import flags

from rethink_tf import models
from rethink_tf.data import corrupt, sources

PRESETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flags", "presets")
PRESETS = ("laptop", "paper", "smoke")
# Keras dtype policies --precision may name: float32 everywhere, or float16 / bfloat16 compute with float32
# weights (mixed_float16 adds Keras' dynamic loss scaling).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")

# Fields that name where a run lives, how it reports or how its steps are dispatched, not what it
# computes: two configs that differ only in these describe the same experiment (and the same numbers).
PLACEMENT_FIELDS = ("preset", "results_dir", "run_name", "verbose", "steps_per_execution")


class ConfigError(ValueError):
    """A flag value that cannot run; the message names the flag and what is allowed."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one training run depends on, resolved and validated."""

    preset: str = ""
    model: str = "inception_small"
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    idx_dir: str = sources.FASHION_MNIST_DIR
    cifar_archive: str | None = None
    train_size: int = 0
    test_size: int = 0
    rgb: bool = True
    crop_size: int = 28
    corruption: str = "true_labels"
    corrupt: float = 0.0
    corrupt_test_labels: bool = False
    gaussian_stats: str = "global"
    random_crop: bool = False
    augment: bool = False
    weight_decay: float = 0.0
    batch_norm: bool = True
    bn_momentum: float = 0.99
    learning_rate: float = 0.1
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
    seed: int = 0
    deterministic: bool = True
    precision: str = "float32"
    cpu_devices: int = 1
    steps_per_execution: int = 16
    results_dir: str = "results"
    run_name: str = ""
    verbose: int = 2

    @property
    def label_noise(self) -> float:
        """The probability p that a training label is replaced by a uniform random class."""
        return 1.0 if self.corruption == "random_labels" else self.corrupt

    @property
    def max_epochs(self) -> int:
        """The epoch budget: --crop_epochs for a run with random crop, --random_label_epochs for a run whose
        every training label is random (when set), else --epochs."""
        if self.random_crop and self.crop_epochs:
            return self.crop_epochs
        if self.corruption in corrupt.ALL_LABELS_CORRUPTIONS and self.random_label_epochs:
            return self.random_label_epochs
        return self.epochs

    @property
    def run_dir(self) -> str:
        return os.path.join(self.results_dir, self.run_name or default_run_name(self))

    def experiment(self) -> dict[str, Any]:
        """The fields that determine the run's numbers (placement fields left out)."""
        d = dataclasses.asdict(self)
        for name in PLACEMENT_FIELDS:
            d.pop(name)
        return d

    def validate(self) -> "RunConfig":
        """Raises ConfigError for the first value that cannot run; returns self."""
        def need(ok: bool, flag: str, allowed: str) -> None:
            if not ok:
                raise ConfigError(f"--{flag}={getattr(self, flag)!r} is not allowed: {allowed}")

        need(self.model in models.MODELS, "model", f"one of {', '.join(models.MODELS)}")
        need(self.dataset in sources.DATASETS, "dataset", f"one of {', '.join(sources.DATASETS)}")
        need(self.corruption in corrupt.CORRUPTIONS, "corruption", f"one of {', '.join(corrupt.CORRUPTIONS)}")
        need(self.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}")
        need(self.gaussian_stats in corrupt.GAUSSIAN_STATS, "gaussian_stats", f"one of {', '.join(corrupt.GAUSSIAN_STATS)}")
        need(0.0 <= self.corrupt <= 1.0, "corrupt", "a probability in [0, 1]")
        need(self.corruption not in corrupt.ALL_LABELS_CORRUPTIONS or self.corrupt in (0.0, 1.0), "corrupt",
             f"--corruption={self.corruption} already means --corrupt=1; give one or the other")
        for flag in ("train_size", "test_size", "curve_test_size"):
            need(getattr(self, flag) >= 0, flag, "a size >= 0 (0 means the whole split)")
        for flag in ("crop_epochs", "random_label_epochs"):
            need(getattr(self, flag) >= 0, flag, "an integer >= 0 (0: --epochs)")
        for flag in ("batch_size", "epochs", "crop_size", "eval_every", "steps_per_execution"):
            need(getattr(self, flag) >= 1, flag, "an integer >= 1")
        need(self.learning_rate > 0, "learning_rate", "a number > 0")
        need(0 < self.lr_decay <= 1, "lr_decay", "a factor in (0, 1]")
        need(self.lr_decay_examples >= 0, "lr_decay_examples", "a number of examples >= 0 (0: decay every epoch)")
        need(0 <= self.momentum < 1, "momentum", "a number in [0, 1)")
        need(0 <= self.bn_momentum < 1, "bn_momentum", "a number in [0, 1)")
        need(self.weight_decay >= 0, "weight_decay", "an L2 coefficient >= 0 (0 turns it off)")
        need(self.seed >= 0, "seed", "an integer >= 0")
        need(self.cpu_devices >= 1, "cpu_devices", "an integer >= 1")
        need(self.batch_norm or models.MODELS[self.model].has_batch_norm, "batch_norm",
             f"only models with batch norm can turn it off ({', '.join(n for n, s in models.MODELS.items() if s.has_batch_norm)})")
        need(not self.run_name or (os.sep not in self.run_name and self.run_name not in (".", "..")), "run_name",
             "a plain directory name, no path separators")
        return self


def model_key(model: str, batch_norm: bool = True) -> str:
    """The architecture as run names write it: the model, "_nobn" appended without batch norm."""
    return model + ("" if batch_norm else "_nobn")


MODEL_KEYS = tuple(model_key(name, bn) for name, spec in models.MODELS.items()
                   for bn in ((True, False) if spec.has_batch_norm else (True,)))


def default_run_name(config: RunConfig) -> str:
    """A readable directory name from the fields a grid varies."""
    parts = [model_key(config.model, config.batch_norm), config.dataset, config.corruption]
    if config.corruption not in corrupt.ALL_LABELS_CORRUPTIONS and config.corrupt:
        parts.append(f"p{config.corrupt:g}")
    if config.random_crop:
        parts.append("crop")
    if config.augment:
        parts.append("augment")
    if config.weight_decay:
        parts.append(f"wd{config.weight_decay:g}")
    if config.precision != "float32":
        parts.append(config.precision)
    parts.append(f"seed{config.seed}")
    return "-".join(parts)


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the run flags once (idempotent, so tests and entry points can both call it)."""
    if "model" in flag_values:
        return
    d = RunConfig()
    fv = {"flag_values": flag_values}
    flags.DEFINE_enum("preset", "laptop", PRESETS, "Flagfile under flags/presets/ that supplies defaults for unset flags.", **fv)
    flags.DEFINE_enum("model", d.model, list(models.MODELS), "Architecture (rethink_tf/models).", **fv)
    flags.DEFINE_enum("dataset", d.dataset, list(sources.DATASETS), "Data set (rethink_tf/data/sources.py).", **fv)
    flags.DEFINE_string("data_dir", None, "tensorflow_datasets data directory (cifar10, mnist; fashion_mnist fallback).", **fv)
    flags.DEFINE_string("idx_dir", d.idx_dir, "Directory of the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist).", **fv)
    flags.DEFINE_string("cifar_archive", None, "Local cifar-10-python.tar.gz to read instead of tfds.", **fv)
    flags.DEFINE_integer("train_size", d.train_size, "Deterministic class-stratified training subset; 0 = all.", **fv)
    flags.DEFINE_integer("test_size", d.test_size, "Deterministic class-stratified test subset; 0 = all.", **fv)
    flags.DEFINE_bool("rgb", d.rgb, "Repeat grayscale images to 3 channels so every model sees the paper's 28x28x3.", **fv)
    flags.DEFINE_integer("crop_size", d.crop_size, "Side of the (center or random) crop fed to the model (paper: 28).", **fv)
    flags.DEFINE_enum("corruption", d.corruption, list(corrupt.CORRUPTIONS), "Randomization test of Section 2.1 "
                      "(random_signs: every label, train and test, a random bit, for the Rademacher probe).", **fv)
    flags.DEFINE_float("corrupt", d.corrupt, "Label corruption probability p: each training label is replaced by a "
                       "uniform random class with probability p.", **fv)
    flags.DEFINE_bool("corrupt_test_labels", d.corrupt_test_labels, "Corrupt test labels too (the first author's code); "
                      "the paper keeps them clean.", **fv)
    flags.DEFINE_enum("gaussian_stats", d.gaussian_stats, list(corrupt.GAUSSIAN_STATS),
                      "Gaussian corruption: one mean/variance over all pixels, or one per channel.", **fv)
    flags.DEFINE_bool("random_crop", d.random_crop, "Random crop augmentation (Table 1) instead of the center crop.", **fv)
    flags.DEFINE_bool("augment", d.augment, "Random horizontal flip and rotation by up to 25 degrees of each training "
                      "image (the paper's Table 4 augmentation), after the crop.", **fv)
    flags.DEFINE_float("weight_decay", d.weight_decay, "L2 coefficient c on every kernel (loss += c * sum(w^2)); 0 = off. "
                       "Table 1 uses each model's default (rethink_tf/models).", **fv)
    flags.DEFINE_bool("batch_norm", d.batch_norm, "Batch normalization, for models that have it (inception_small).", **fv)
    flags.DEFINE_float("bn_momentum", d.bn_momentum, "Momentum of batch norm's moving statistics (Keras' default "
                       "0.99 averages over ~100 steps: too slow for a few steps per epoch).", **fv)
    flags.DEFINE_float("learning_rate", None, "Initial SGD learning rate; default: the model's (0.1 Inception, 0.01 others).", **fv)
    flags.DEFINE_float("lr_decay", d.lr_decay, "Learning rate factor applied after every epoch.", **fv)
    flags.DEFINE_integer("lr_decay_examples", d.lr_decay_examples,
                         "Apply --lr_decay once per this many training examples seen instead of once per epoch "
                         "(50000: the paper's CIFAR-10 schedule in steps, for subsets); 0 = every epoch.", **fv)
    flags.DEFINE_float("momentum", d.momentum, "SGD momentum.", **fv)
    flags.DEFINE_integer("batch_size", d.batch_size, "Global batch size.", **fv)
    flags.DEFINE_integer("epochs", d.epochs, "Maximum number of epochs.", **fv)
    flags.DEFINE_integer("crop_epochs", d.crop_epochs, "Maximum number of epochs of a run with --random_crop, whose "
                         "running accuracy on fresh crops never reaches 100%; 0 = --epochs.", **fv)
    flags.DEFINE_integer("random_label_epochs", d.random_label_epochs, "Maximum number of epochs of a run whose every "
                         "training label is random (random_labels, random_signs), which takes longer to fit than true "
                         "labels (the paper's Figure 1a); 0 = --epochs.", **fv)
    flags.DEFINE_integer("random_label_seeds", 1, "Table 1 grid: seeds of each random-label row (--seed, --seed + 1, "
                         "...), reported as their mean: on a few hundred examples one draw of random labels moves "
                         "test accuracy by about 2 points.", lower_bound=1, **fv)
    flags.DEFINE_multi_enum("single_seed_models", [], MODEL_KEYS, "Table 1 grid: architectures whose random-label "
                            "row runs once whatever --random_label_seeds says (a run too long to repeat).", **fv)
    flags.DEFINE_multi_float("corrupt_levels", [k / 10 for k in range(11)], "Figure 1 (b, c): the label corruption "
                             "levels p of the sweep (repeat the flag for each).", lower_bound=0.0, upper_bound=1.0, **fv)
    flags.DEFINE_bool("stop_when_fit", d.stop_when_fit, "Stop once an epoch's training accuracy reaches 100%.", **fv)
    flags.DEFINE_integer("eval_every", d.eval_every, "Test-set metrics in the curves every N epochs; "
                         "the final numbers are always evaluated.", **fv)
    flags.DEFINE_integer("curve_test_size", d.curve_test_size, "Test examples behind those curves (a fixed "
                         "class-stratified subset of the test set); 0 = all. The final numbers use the whole test set.", **fv)
    flags.DEFINE_integer("seed", d.seed, "Seed of initialization, corruption, subset and shuffling.", **fv)
    flags.DEFINE_bool("deterministic", d.deterministic, "Deterministic TensorFlow ops (same flags -> same numbers).", **fv)
    flags.DEFINE_enum("precision", d.precision, PRECISIONS, "Keras dtype policy: float32 (the paper's), or "
                      "mixed precision for GPUs with float16 or bfloat16 units (weights and logits stay float32). "
                      "Not chosen for you: it changes the numbers, and its speed was not measured here (README).", **fv)
    flags.DEFINE_integer("cpu_devices", d.cpu_devices, "Without a GPU: split the CPU into this many logical devices "
                         "and mirror training over them (tf.distribute.MirroredStrategy; --batch_size stays global). "
                         "With several GPUs every GPU is used.", **fv)
    flags.DEFINE_integer("steps_per_execution", d.steps_per_execution, "Train steps per call into TensorFlow "
                         "(Keras' steps_per_execution): fewer calls cost less Python time per step; the numbers are "
                         "the same whatever it is. The progress bar (--verbose=1) moves this many steps at a time.", **fv)
    flags.DEFINE_string("results_dir", d.results_dir, "Directory holding one subdirectory per run.", **fv)
    flags.DEFINE_string("run_name", d.run_name, "Run subdirectory name; default: built from the config.", **fv)
    flags.DEFINE_integer("verbose", d.verbose, "Keras fit verbosity (0 silent, 1 progress bar, 2 one line per epoch).", **fv)


def apply_preset(flag_values: flags.FlagValues, preset: str | None = None) -> None:
    """Sets every flag the command line left unset from the preset flagfile."""
    preset = preset or flag_values.preset
    path = os.path.join(PRESETS_DIR, f"{preset}.flags")
    if not os.path.exists(path):
        raise ConfigError(f"--preset={preset!r}: no flagfile {path}")
    given = {name for name in flag_values if flag_values[name].present}
    # Read the file with absl's own flagfile parser, then copy only the flags not given.
    args = flag_values.read_flags_from_files([f"--flagfile={path}"], force_gnu=True)
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        if name.startswith("no") and name[2:] in flag_values and not value:
            name, value = name[2:], "false"
        if name not in flag_values:
            raise ConfigError(f"{path}: unknown flag --{name}")
        if name not in given:
            flag_values[name].parse(value if value else "true")
            flag_values[name].present = 0


def from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> RunConfig:
    """Resolves parsed flags (after apply_preset) into a validated RunConfig."""
    names = {f.name for f in dataclasses.fields(RunConfig)}
    values = {name: flag_values[name].value for name in names}
    if values["learning_rate"] is None:
        spec = models.MODELS.get(values["model"])
        values["learning_rate"] = spec.default_learning_rate if spec else RunConfig.learning_rate
    return RunConfig(**values).validate()
