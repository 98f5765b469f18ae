"""The frozen RunConfig: everything one training run depends on, and the checks of its values.

The top of the one-way flow (flags -> config -> data -> model -> training -> record -> report): it imports
nothing of rethink_tf but its errors. Every field is declared once, here: its default, and in its metadata (see
`setting`) its --help group, help text, whether it is placement, and which registry supplies its choices.
rethink_tf.cli defines the command-line flags (of the same names), --help's groups and docs/flags.md from
these declarations; the choices that lower modules own (models, data sets, corruptions) are checked by
rethink_tf.runs against their registries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from typing import Any

from rethink_tf.errors import BadInput

# --help's groups, in this order: what a user usually changes first. Within a group, flags keep field order.
WHAT = "What to run"
REGULARIZERS = "Regularizers and optimization"
DETAILS = "Details of the randomization tests and the input"
CURVES = "Test curves and measures"
DATA = "Where the data is"
OUTPUT = "Placement, numerics and output"
GROUPS = (WHAT, REGULARIZERS, DETAILS, CURVES, DATA, OUTPUT)

# Corruptions that replace every training label (rethink_tf.data.corrupt.ALL_LABELS_CORRUPTIONS, which a test
# keeps equal to this: config may not import the data package below it).
ALL_LABELS_CORRUPTIONS = ("random_labels", "random_signs")
# Input corruptions that --corrupt applies to a fraction of the training inputs (rethink_tf.data.corrupt's, kept
# equal to this by the same test).
PARTIAL_INPUT_CORRUPTIONS = ("random_pixels", "gaussian")


class ConfigError(BadInput, ValueError):
    """A flag value that cannot run; the message names the flag and what is allowed."""


def setting(
    default: Any,
    help: str,
    group: str | None = None,
    *,
    placement: bool = False,
    choices: str | tuple[str, ...] | None = None,
    flag_default: Any = dataclasses.MISSING,
    lower_bound: float | None = None,
    upper_bound: float | None = None,
) -> Any:
    """A dataclass field declared as a command-line flag of its name (a RunConfig field, or an option of an
    experiment's options dataclass). `help` may hold {placeholders} that rethink_tf.cli fills in from the
    registries it knows (cli.HELP_FACTS); `group` is its --help group (RunConfig fields); `placement` marks a
    field that says where a run lives, reads its data or reports, not what it computes (two configs that differ
    only in these describe the same experiment and the same numbers); `choices` is a tuple, or the name of the
    registry that rethink_tf.cli takes them from (cli.CHOICES); `flag_default` is the flag's default where it
    differs from the field's; the bounds are the flag's."""
    metadata = {
        "help": help,
        "group": group,
        "placement": placement,
        "choices": choices,
        "flag_default": default if flag_default is dataclasses.MISSING else flag_default,
        "lower_bound": lower_bound,
        "upper_bound": upper_bound,
    }
    return dataclasses.field(default=default, metadata=metadata)


OPTIMIZERS = ("sgd", "adam")  # --optimizer: rethink_tf.optimizers.of_config builds each


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything one training run depends on. learning_rate None means the model's default, which
    rethink_tf.runs.resolve fills in before a run trains. Field names are flag names, and records keep the
    fields as a flat dict: add a field here, with its default and setting(...), and it is a flag, in --help and
    in docs/flags.md (regenerate it: python tools/flags_doc.py)."""

    preset: str = setting(
        "",
        "Flagfile (rethink_tf/presets/, also flags/presets/) that "
        "supplies defaults for the flags the command line leaves unset.",
        WHAT,
        placement=True,
        choices="presets",
        flag_default="laptop",
    )
    model: str = setting("inception_small", "Architecture (rethink_tf/models).", WHAT, choices="models")
    hidden_units: int = setting(
        0, "Hidden units of each hidden layer of the MLPs (capacity sweeps); 0 = the paper's 512.", WHAT
    )
    width_multiplier: float = setting(
        1.0,
        "AlexNet-small's and Inception-small's channels and hidden units times this, each rounded, at least 1 "
        "(capacity sweeps); 1 = the paper's.",
        WHAT,
    )
    dataset: str = setting(
        "fashion_mnist",
        "Data set: {datasets} (built in); tfds:NAME[:CONFIG] (any tfds image-classification "
        "set, e.g. tfds:svhn_cropped); npz:PATH (arrays x_train, y_train, x_test, y_test); folder:PATH "
        "(PATH/train/<class>/*.png|jpg and PATH/test/<class>/*).",
        WHAT,
    )
    data_dir: str | None = setting(
        None,
        "tensorflow_datasets data directory (tfds:NAME, cifar10, mnist; fashion_mnist when its IDX files are "
        "missing); default: tfds' own (~/tensorflow_datasets).",
        DATA,
        placement=True,
    )
    idx_dir: str | None = setting(
        None,
        "Directory of the four Fashion-MNIST IDX files; default: Debian's "
        "dataset-fashion-mnist ({fashion_mnist_dir}), else a prepared tfds copy.",
        DATA,
        placement=True,
    )
    cifar_archive: str | None = setting(
        None, "Local cifar-10-python.tar.gz to read instead of tfds.", DATA, placement=True
    )
    download: bool = setting(
        False,
        "Let tfds download and prepare a missing tfds set into --data_dir (needs internet access; "
        "sets downloaded by hand, such as imagenet2012, from --manual_dir). Nothing is downloaded without it.",
        WHAT,
        placement=True,
    )
    manual_dir: str | None = setting(
        None, "Folder of the files of a tfds set downloaded by hand (imagenet2012's tars).", DATA, placement=True
    )
    train_split: str = setting("train", "tfds split to train on (tfds:NAME only).", DATA)
    test_split: str = setting("test", "tfds split to test on (tfds:NAME only; imagenet2012: validation).", DATA)
    image_size: int = setting(
        0,
        "Bring every image to this square size (shorter side scaled, center kept) when read; needed for "
        "sources whose images differ in size; 0 = the source's own size.",
        DETAILS,
    )
    train_size: int = setting(0, "Deterministic class-stratified training subset; 0 = all.", WHAT)
    test_size: int = setting(0, "Deterministic class-stratified test subset; 0 = all.", WHAT)
    rgb: bool = setting(True, "Repeat grayscale images to 3 channels so every model sees the paper's 28x28x3.", DETAILS)
    crop_size: int = setting(
        0,
        "Side of the (center or random) crop fed to the model; 0 = the paper's 28 for 28x28 and 32x32 "
        "images, else the image's shorter side.",
        DETAILS,
    )
    corruption: str = setting(
        "true_labels",
        "Randomization test of Section 2.1 "
        "(random_signs: every label, train and test, a random bit, for the Rademacher probe).",
        WHAT,
        choices="corruptions",
    )
    corrupt: float = setting(
        0.0,
        "Corruption probability p: each training label is replaced by a uniform random class with probability p; "
        "for gaussian and random_pixels, each training input instead (0 < p < 1, labels and test images real; 0: "
        "every input, test images too).",
        WHAT,
    )
    corrupt_test_labels: bool = setting(
        False, "Corrupt test labels too (the first author's code); the paper keeps them clean.", DETAILS
    )
    gaussian_stats: str = setting(
        "global",
        "Gaussian corruption: one mean/variance over all pixels, or one per channel.",
        DETAILS,
        choices="gaussian_stats",
    )
    random_crop: bool = setting(False, "Random crop augmentation (Table 1) instead of the center crop.", REGULARIZERS)
    augment: bool = setting(
        False,
        "Random horizontal flip and rotation by up to 25 degrees of each "
        "training image (the paper's Table 4 augmentation), after the crop.",
        REGULARIZERS,
    )
    weight_decay: float = setting(
        0.0,
        "L2 coefficient c on every kernel (loss += c * sum(w^2)); "
        "0 = off. Table 1 uses each model's default (rethink_tf/models).",
        REGULARIZERS,
    )
    dropout: float = setting(
        0.0,
        "Dropout rate after each hidden layer of Table 1's models (Arpit et al.'s dropout), before the logits of "
        "inception_v3 (the paper's Table 2); 0 = off.",
        REGULARIZERS,
    )
    input_dropout: float = setting(
        0.0, "Dropout rate on the (whitened) input pixels while training (Arpit et al.); 0 = off.", REGULARIZERS
    )
    input_noise: float = setting(
        0.0,
        "Standard deviation of Gaussian noise added to the (whitened, unit-variance) inputs while training "
        "(Arpit et al.); 0 = off.",
        REGULARIZERS,
    )
    hidden_noise: float = setting(
        0.0,
        "Standard deviation of Gaussian noise added to each hidden layer's activations while training (Arpit "
        "et al.); 0 = off.",
        REGULARIZERS,
    )
    adversarial: float = setting(
        0.0,
        "Adversarial training's weight w (Arpit et al.): each batch's first --adversarial_fraction is replaced by "
        "its adversarial examples (the critical sample ratio's search, docs/csr.md) and the loss is (1 - w) x "
        "clean + w x adversarial; 0 = off.",
        REGULARIZERS,
    )
    adversarial_fraction: float = setting(
        0.5, "The fraction of each batch that --adversarial replaces by its adversarial examples.", REGULARIZERS
    )
    batch_norm: bool = setting(True, "Batch normalization, for models that have it ({with_batch_norm}).", REGULARIZERS)
    bn_momentum: float = setting(
        0.99,
        "Momentum of batch norm's moving statistics (Keras' default "
        "0.99 averages over ~100 steps: too slow for a few steps per epoch).",
        REGULARIZERS,
    )
    learning_rate: float | None = setting(
        None,
        "Initial SGD learning rate, for every run of an experiment; default: each model's own ({learning_rates}).",
        REGULARIZERS,
    )
    lr_decay: float = setting(0.95, "Learning rate factor applied after every epoch.", REGULARIZERS)
    lr_decay_examples: int = setting(
        0,
        "Apply --lr_decay once per this many training examples seen instead of once per epoch "
        "(50000: the paper's CIFAR-10 schedule in steps, for subsets); 0 = every epoch.",
        REGULARIZERS,
    )
    optimizer: str = setting(
        "sgd",
        "sgd: SGD with --momentum, the paper's; adam: Adam (Keras' defaults but the learning rate; Nakkiran et al.'s "
        "double descent). --lr_decay=1 keeps the learning rate constant.",
        REGULARIZERS,
        choices=OPTIMIZERS,
    )
    momentum: float = setting(0.9, "SGD momentum.", REGULARIZERS)
    batch_size: int = setting(128, "Global batch size.", REGULARIZERS)
    epochs: int = setting(60, "Maximum number of epochs (but see --crop_epochs and --random_label_epochs).", WHAT)
    crop_epochs: int = setting(
        0,
        "Maximum number of epochs of a run with --random_crop, whose "
        "running accuracy on fresh crops never reaches 100%; 0 = --epochs.",
        REGULARIZERS,
    )
    random_label_epochs: int = setting(
        0,
        "Maximum number of epochs of a run whose "
        "every training label is random (random_labels, random_signs), which takes longer to fit "
        "than true labels (the paper's Figure 1a); 0 = --epochs.",
        REGULARIZERS,
    )
    stop_when_fit: bool = setting(False, "Stop once an epoch's training accuracy reaches 100%.", REGULARIZERS)
    eval_every: int = setting(
        1, "Test-set metrics in the curves every N epochs; the final numbers are always evaluated.", CURVES
    )
    curve_test_size: int = setting(
        0,
        "Test examples behind those curves (a fixed "
        "class-stratified subset of the test set); 0 = all. The final numbers use the whole test "
        "set.",
        CURVES,
    )
    ledger: bool = setting(
        True,
        "Keep the per-example ledger (ledger.npz beside record.json): each training and curve-test example's "
        "correctness, loss and margin after every epoch, for learning order, forgetting and the memorization "
        "estimates. It costs a prediction pass over the training set per epoch (docs/ledger.md) and changes "
        "no number.",
        CURVES,
        placement=True,
    )
    save_weights: bool = setting(
        True,
        "Save the run's initial and final weights in its directory (the measures and the Rademacher probe read "
        "them); the memorization experiment's many runs keep only their record and ledger.",
        OUTPUT,
        placement=True,
    )
    measures: bool = setting(
        True,
        "Compute a finished run's generalization measures (norms, margin, sharpness: docs/measures.md) into "
        "its record and TensorBoard; a finished run without them gets them on its next pass, not retrained. "
        "They do not change the run's numbers.",
        CURVES,
        placement=True,
    )
    csr_every: int = setting(
        0,
        "Arpit et al.'s critical sample ratio (docs/csr.md) in the curves every N epochs and at the run's last, on "
        "fixed samples of --csr_size training and test images; 0 = off. It changes no number of the run.",
        CURVES,
        placement=True,
    )
    csr_size: int = setting(
        500,
        "Images of each fixed, class-stratified sample the critical sample ratio searches: of the training set "
        "(the curve) and of the test set (the curve and the measure); Arpit et al.'s 500.",
        CURVES,
        placement=True,
    )
    seed: int = setting(0, "Seed of initialization, corruption, subset and shuffling.", WHAT)
    run_seed: int = setting(
        0,
        "A second seed for the weights' initialization, the training order and the --train_fraction draw, the "
        "data and its labels staying --seed's: runs that differ only in it train on the same examples with the "
        "same (corrupted) labels, from other initial weights (Arpit et al.'s difficulty test, Feldman & Zhang's "
        "estimator); 0 = --seed alone.",
        DETAILS,
    )
    train_fraction: float = setting(
        1.0,
        "Train on a random fraction m of the training set drawn by (--seed, --run_seed), holding the rest out "
        "(Feldman & Zhang's held-out estimator; the ledger evaluates both); 1 = train on all.",
        DETAILS,
    )
    deterministic: bool = setting(True, "Deterministic TensorFlow ops (same flags -> same numbers).", OUTPUT)
    precision: str = setting(
        "float32",
        "Keras dtype policy: float32 (the paper's), or "
        "mixed precision for GPUs with float16 or bfloat16 units (weights and logits stay float32). "
        "Not chosen for you: it changes the numbers (docs/speed.md).",
        OUTPUT,
        choices="precisions",
    )
    cpu_devices: int = setting(
        1,
        "Without a GPU: split the CPU into this many logical devices "
        "and mirror training over them (tf.distribute.MirroredStrategy; --batch_size stays global). "
        "With several GPUs every GPU is used.",
        OUTPUT,
    )
    threads: int = setting(
        0,
        "TensorFlow's intra-op threads, the pool a CPU kernel splits its work over; 0 = TensorFlow's own, one "
        "per core. Part of a run's identity: Inception-small's sums come out in another order with another "
        "count, and so do its numbers (docs/scaling.md).",
        OUTPUT,
    )
    steps_per_execution: int = setting(
        16,
        "Train steps per call into TensorFlow "
        "(Keras' steps_per_execution): fewer calls cost less Python time per step; the numbers are "
        "the same whatever it is.",
        OUTPUT,
        placement=True,
    )
    allow_mixed_environment: bool = setting(
        False,
        "Resume an unfinished run in another compute environment (CPU, instruction set, threads, versions, GPU) "
        "than the one it started in, whose numbers are then of neither; the record lists both "
        "(docs/determinism.md). Without it such a resume is refused.",
        OUTPUT,
        placement=True,
    )
    results_dir: str = setting(
        "results", "Directory holding one subdirectory per run (created if missing).", WHAT, placement=True
    )
    run_name: str = setting("", "Run subdirectory name; default: built from the config.", OUTPUT, placement=True)
    tag: str = setting(
        "",
        "A label kept in the run's record, changing no number: what the run belongs to (rethink_tf.experiments.tune "
        "tags its trials 'tune'), for reports and notebooks to select by.",
        OUTPUT,
        placement=True,
    )
    verbose: int = setting(
        2,
        "Output while training: 0 none, 1 Keras' progress bar, 2 one line per epoch (accuracies, gap, ETA).",
        OUTPUT,
        placement=True,
    )

    @property
    def label_noise(self) -> float:
        """The probability p that a training label is replaced by a random one (a uniform random class; a random
        sign for random_signs): 1 for the corruptions that replace every label, 0 for those whose --corrupt is their
        fraction of inputs (PARTIAL_INPUT_CORRUPTIONS), else --corrupt. The one derivation."""
        if self.corruption in PARTIAL_INPUT_CORRUPTIONS:
            return 0.0
        return 1.0 if self.corruption in ALL_LABELS_CORRUPTIONS else self.corrupt

    @property
    def corrupted_inputs(self) -> float:
        """The probability p that a training input is corrupted: --corrupt for gaussian and random_pixels at
        0 < p < 1 (a partial input corruption, whose test images stay real), 1 for an input corruption at
        --corrupt=0 (every input, test images too), else 0."""
        if self.corruption in PARTIAL_INPUT_CORRUPTIONS and self.corrupt > 0:
            return self.corrupt
        return 1.0 if self.corruption in ("shuffled_pixels", *PARTIAL_INPUT_CORRUPTIONS) else 0.0

    @property
    def corruption_p(self) -> float:
        """The probability p that the corruption changes a training example: its input for a partial input
        corruption, else its label (label_noise). At 0 < p < 1 the training set splits into kept and changed
        examples, whose accuracies a run records."""
        return self.corrupted_inputs if 0 < self.corrupted_inputs < 1 else self.label_noise

    @property
    def train_seed(self) -> int:
        """The seed of the weights, the training order and the held-out draw: --seed itself when --run_seed is 0 (every
        run before 0.6), else one drawn from both, so that (seed, run_seed) pairs never share it."""
        if not self.run_seed:
            return self.seed
        digest = hashlib.sha256(f"rethink_tf train_seed {self.seed} {self.run_seed}".encode()).digest()
        return int.from_bytes(digest[:4], "big") >> 1

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

    @property
    def regularizers(self) -> frozenset[str]:
        """Which explicit regularizers the run turns on, the paper's (weight_decay, random_crop, augment, dropout)
        and Arpit et al.'s (input_dropout, input_noise, hidden_noise, adversarial): reports select their runs by it."""
        on = {
            "weight_decay": self.weight_decay > 0,
            "random_crop": self.random_crop,
            "augment": self.augment,
            "dropout": self.dropout > 0,
            "input_dropout": self.input_dropout > 0,
            "input_noise": self.input_noise > 0,
            "hidden_noise": self.hidden_noise > 0,
            "adversarial": self.adversarial > 0,
        }
        return frozenset(name for name, enabled in on.items() if enabled)

    def experiment(self) -> dict[str, Any]:
        """The fields that determine the run's numbers (placement fields left out)."""
        return experiment_fields(dataclasses.asdict(self))

    def validate(self) -> "RunConfig":
        """Raises ConfigError for the first value that cannot run; returns self. Names are checked against
        the registries by rethink_tf.runs.resolve."""

        def need(ok: bool, flag: str, allowed: str) -> None:
            if not ok:
                raise ConfigError(f"--{flag}={getattr(self, flag)!r} is not allowed: {allowed}")

        for flag in (
            "corrupt",
            "weight_decay",
            "dropout",
            "input_dropout",
            "input_noise",
            "hidden_noise",
            "adversarial",
        ):
            need(math.isfinite(getattr(self, flag)), flag, "a finite number")
        for flag in ("bn_momentum", "lr_decay", "momentum"):
            need(math.isfinite(getattr(self, flag)), flag, "a finite number")
        need(0.0 <= self.corrupt <= 1.0, "corrupt", "a probability in [0, 1]")
        need(
            self.corruption not in ALL_LABELS_CORRUPTIONS or self.corrupt in (0.0, 1.0),
            "corrupt",
            f"--corruption={self.corruption} already means --corrupt=1; give one or the other",
        )
        need(
            self.corruption not in PARTIAL_INPUT_CORRUPTIONS or self.corrupt < 1.0,
            "corrupt",
            f"--corruption={self.corruption} corrupts every input, test images too, at --corrupt=0, and a fraction "
            "0 < p < 1 of the training inputs (test images real) at --corrupt=p",
        )
        need(
            not (self.corrupt_test_labels and 0 < self.corrupted_inputs < 1),
            "corrupt_test_labels",
            f"--corruption={self.corruption} --corrupt={self.corrupt:g} keeps every label: none to corrupt",
        )
        for flag in ("train_size", "test_size", "curve_test_size"):
            need(getattr(self, flag) >= 0, flag, "a size >= 0 (0 means the whole split)")
        for flag in ("crop_epochs", "random_label_epochs"):
            need(getattr(self, flag) >= 0, flag, "an integer >= 0 (0: --epochs)")
        for flag in ("batch_size", "epochs", "eval_every", "steps_per_execution"):
            need(getattr(self, flag) >= 1, flag, "an integer >= 1")
        need(self.crop_size >= 0, "crop_size", "a side >= 1, or 0 for the data's own (28 for 28x28, 32x32)")
        need(self.image_size >= 0, "image_size", "a side in pixels >= 1, or 0 to keep the source's size")
        for flag in ("dropout", "input_dropout"):
            need(0.0 <= getattr(self, flag) < 1.0, flag, "a rate in [0, 1) (0 turns it off)")
        for flag in ("input_noise", "hidden_noise"):
            need(getattr(self, flag) >= 0.0, flag, "a standard deviation >= 0 (0 turns it off)")
        need(0.0 <= self.adversarial < 1.0, "adversarial", "a weight in [0, 1) (0 turns adversarial training off)")
        need(
            0.0 < self.adversarial_fraction < 1.0,
            "adversarial_fraction",
            "a fraction in (0, 1): some of each batch adversarial, the rest clean",
        )
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
        need(self.optimizer in OPTIMIZERS, "optimizer", " or ".join(OPTIMIZERS))
        need(self.hidden_units >= 0, "hidden_units", "a number of units >= 1, or 0 for the paper's 512")
        need(
            math.isfinite(self.width_multiplier) and self.width_multiplier > 0,
            "width_multiplier",
            "a factor > 0 (1: the paper's channels)",
        )
        need(self.csr_every >= 0, "csr_every", "a number of epochs >= 1, or 0 to turn the critical sample ratio off")
        need(self.csr_size >= 1, "csr_size", "a number of images >= 1")
        need(
            self.save_weights or not self.measures,
            "save_weights",
            "the measures are computed from the saved weights; pass --nomeasures with --nosave_weights",
        )
        need(self.run_seed >= 0, "run_seed", "an integer >= 0 (0: --seed alone)")
        need(
            math.isfinite(self.train_fraction) and 0 < self.train_fraction <= 1,
            "train_fraction",
            "a fraction in (0, 1] (1: train on every example)",
        )
        need(self.cpu_devices >= 1, "cpu_devices", "an integer >= 1")
        need(self.threads >= 0, "threads", "a number of threads >= 1, or 0 for TensorFlow's own (one per core)")
        need(
            not self.run_name or (os.sep not in self.run_name and self.run_name not in (".", "..")),
            "run_name",
            "a plain directory name, no path separators",
        )
        return self


# Fields that say where a run lives, where its data is read from, how it reports or how its steps are
# dispatched, not what it computes (setting(placement=True)): two configs that differ only in these describe the
# same experiment (and the same numbers). A run's data is identified by its fingerprints instead of its location.
PLACEMENT_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.metadata["placement"])
_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}


def experiment_fields(values: dict[str, Any]) -> dict[str, Any]:
    """A config dict (a record's, maybe of an older version) as the fields that determine the numbers: placement
    fields dropped, a field added since it was written counted with its default (which reproduces the old runs)."""
    out = {**_DEFAULTS, **{k: v for k, v in values.items() if k in _FIELDS}}
    for name in PLACEMENT_FIELDS:
        out.pop(name)
    return out


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


# The regularizers a run name gives with their strength when on: (field, prefix), in the names' order.
_NAMED_STRENGTHS = (
    ("weight_decay", "wd"),
    ("dropout", "dropout"),
    ("input_dropout", "indrop"),
    ("input_noise", "innoise"),
    ("hidden_noise", "hidnoise"),
    ("adversarial", "adv"),
)


def default_run_name(config: RunConfig) -> str:
    """A readable directory name from the fields a grid varies."""
    parts = [model_key(config.model, config.batch_norm), dataset_key(config.dataset), config.corruption]
    if config.corruption not in ALL_LABELS_CORRUPTIONS and config.corrupt:
        parts.append(f"p{config.corrupt:g}")
    if config.random_crop:
        parts.append("crop")
    if config.augment:
        parts.append("augment")
    for field, prefix in _NAMED_STRENGTHS:
        if getattr(config, field):
            parts.append(f"{prefix}{getattr(config, field):g}")
    if config.adversarial and config.adversarial_fraction != 0.5:
        parts.append(f"of{config.adversarial_fraction:g}")
    if config.hidden_units:
        parts.append(f"h{config.hidden_units}")
    if config.width_multiplier != 1.0:
        parts.append(f"wm{config.width_multiplier:g}")
    if config.optimizer != "sgd":
        parts.append(config.optimizer)
    if config.precision != "float32":
        parts.append(config.precision)
    parts.append(f"seed{config.seed}")
    if config.train_fraction < 1:
        parts.append(f"m{config.train_fraction:g}")
    if config.run_seed:
        parts.append(f"r{config.run_seed}")
    return "-".join(parts)
