"""The command line: every flag, the presets, grouped --help, and one-line errors. The only module that reads
FLAGS; it turns them into a RunConfig (and an experiment's options) for the layers below."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import textwrap
from typing import Any, Iterator

from absl import flags

from rethink_tf import config as config_lib
from rethink_tf import models, records, runs
from rethink_tf.data import corrupt, sources
from rethink_tf.errors import BadInput

FLAGS = flags.FLAGS
PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")  # package data
PRESETS = ("laptop", "paper", "smoke", "table2_paper", "table2_smoke")
MODEL_KEYS = tuple(
    config_lib.model_key(name, bn)
    for name in models.MODELS
    for bn in ((True, False) if name in models.WITH_BATCH_NORM else (True,))
)

# --help shows these groups in this order: what a user usually changes first.
RUN_GROUPS = (
    (
        "What to run",
        (
            "preset",
            "model",
            "corruption",
            "corrupt",
            "dataset",
            "download",
            "train_size",
            "test_size",
            "epochs",
            "seed",
            "results_dir",
        ),
    ),
    (
        "Regularizers and optimization",
        (
            "random_crop",
            "augment",
            "weight_decay",
            "dropout",
            "batch_norm",
            "learning_rate",
            "batch_size",
            "stop_when_fit",
            "crop_epochs",
            "random_label_epochs",
            "lr_decay",
            "lr_decay_examples",
            "momentum",
            "bn_momentum",
        ),
    ),
    (
        "Details of the randomization tests and the input",
        ("corrupt_test_labels", "gaussian_stats", "crop_size", "image_size", "rgb"),
    ),
    ("Test curves and measures", ("eval_every", "curve_test_size", "measures")),
    ("Where the data is", ("data_dir", "manual_dir", "train_split", "test_split", "idx_dir", "cifar_archive")),
    (
        "Placement, numerics and output",
        (
            "run_name",
            "verbose",
            "precision",
            "deterministic",
            "threads",
            "cpu_devices",
            "steps_per_execution",
            "allow_mixed_environment",
        ),
    ),
)


# The flags of an experiment's entry point that say where its runs train, not what they compute.
SCALE_OUT_GROUP = ("Scaling out the grid (docs/scaling.md)", ("workers", "engine", "ray_address"))
ENGINES = ("local", "ray")


class UsageError(BadInput, ValueError):
    """A command line that cannot run (arguments, not flags)."""


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """Defines every flag once (idempotent, so tests and entry points can both call it)."""
    if "model" in flag_values:
        return
    d = config_lib.RunConfig()
    fv = {"flag_values": flag_values}
    flags.DEFINE_enum(
        "preset",
        "laptop",
        PRESETS,
        "Flagfile (rethink_tf/presets/, also flags/presets/) that "
        "supplies defaults for the flags the command line leaves unset.",
        **fv,
    )
    flags.DEFINE_enum("model", d.model, list(models.MODELS), "Architecture (rethink_tf/models).", **fv)
    flags.DEFINE_string(
        "dataset",
        d.dataset,
        f"Data set: {', '.join(sources.DATASETS)} (built in); tfds:NAME[:CONFIG] (any tfds image-classification "
        "set, e.g. tfds:svhn_cropped); npz:PATH (arrays x_train, y_train, x_test, y_test); folder:PATH "
        "(PATH/train/<class>/*.png|jpg and PATH/test/<class>/*).",
        **fv,
    )
    flags.DEFINE_bool(
        "download",
        d.download,
        "Let tfds download and prepare a missing tfds set into --data_dir (needs internet access; "
        "sets downloaded by hand, such as imagenet2012, from --manual_dir). Nothing is downloaded without it.",
        **fv,
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "tensorflow_datasets data directory (tfds:NAME, cifar10, mnist; fashion_mnist when its IDX files are "
        "missing); default: tfds' own (~/tensorflow_datasets).",
        **fv,
    )
    flags.DEFINE_string(
        "manual_dir", None, "Folder of the files of a tfds set downloaded by hand (imagenet2012's tars).", **fv
    )
    flags.DEFINE_string("train_split", d.train_split, "tfds split to train on (tfds:NAME only).", **fv)
    flags.DEFINE_string(
        "test_split", d.test_split, "tfds split to test on (tfds:NAME only; imagenet2012: validation).", **fv
    )
    flags.DEFINE_integer(
        "image_size",
        d.image_size,
        "Bring every image to this square size (shorter side scaled, center kept) when read; needed for "
        "sources whose images differ in size; 0 = the source's own size.",
        **fv,
    )
    flags.DEFINE_string(
        "idx_dir",
        None,
        "Directory of the four Fashion-MNIST IDX files; default: Debian's "
        f"dataset-fashion-mnist ({sources.FASHION_MNIST_DIR}), else a prepared tfds copy.",
        **fv,
    )
    flags.DEFINE_string("cifar_archive", None, "Local cifar-10-python.tar.gz to read instead of tfds.", **fv)
    flags.DEFINE_integer("train_size", d.train_size, "Deterministic class-stratified training subset; 0 = all.", **fv)
    flags.DEFINE_integer("test_size", d.test_size, "Deterministic class-stratified test subset; 0 = all.", **fv)
    flags.DEFINE_bool(
        "rgb", d.rgb, "Repeat grayscale images to 3 channels so every model sees the paper's 28x28x3.", **fv
    )
    flags.DEFINE_integer(
        "crop_size",
        d.crop_size,
        "Side of the (center or random) crop fed to the model; 0 = the paper's 28 for 28x28 and 32x32 "
        "images, else the image's shorter side.",
        **fv,
    )
    flags.DEFINE_enum(
        "corruption",
        d.corruption,
        list(corrupt.CORRUPTIONS),
        "Randomization test of Section 2.1 "
        "(random_signs: every label, train and test, a random bit, for the Rademacher probe).",
        **fv,
    )
    flags.DEFINE_float(
        "corrupt",
        d.corrupt,
        "Label corruption probability p: each training label is replaced by a uniform random class with probability p.",
        **fv,
    )
    flags.DEFINE_bool(
        "corrupt_test_labels",
        d.corrupt_test_labels,
        "Corrupt test labels too (the first author's code); the paper keeps them clean.",
        **fv,
    )
    flags.DEFINE_enum(
        "gaussian_stats",
        d.gaussian_stats,
        list(corrupt.GAUSSIAN_STATS),
        "Gaussian corruption: one mean/variance over all pixels, or one per channel.",
        **fv,
    )
    flags.DEFINE_bool(
        "random_crop", d.random_crop, "Random crop augmentation (Table 1) instead of the center crop.", **fv
    )
    flags.DEFINE_bool(
        "augment",
        d.augment,
        "Random horizontal flip and rotation by up to 25 degrees of each "
        "training image (the paper's Table 4 augmentation), after the crop.",
        **fv,
    )
    flags.DEFINE_float(
        "weight_decay",
        d.weight_decay,
        "L2 coefficient c on every kernel (loss += c * sum(w^2)); "
        "0 = off. Table 1 uses each model's default (rethink_tf/models).",
        **fv,
    )
    flags.DEFINE_float(
        "dropout",
        d.dropout,
        "Dropout rate before the logits, for models that have a dropout layer (inception_v3); 0 = off.",
        **fv,
    )
    flags.DEFINE_bool(
        "batch_norm",
        d.batch_norm,
        f"Batch normalization, for models that have it ({', '.join(models.WITH_BATCH_NORM)}).",
        **fv,
    )
    flags.DEFINE_float(
        "bn_momentum",
        d.bn_momentum,
        "Momentum of batch norm's moving statistics (Keras' default "
        "0.99 averages over ~100 steps: too slow for a few steps per epoch).",
        **fv,
    )
    flags.DEFINE_float(
        "learning_rate",
        None,
        "Initial SGD learning rate, for every run of an experiment; default: "
        "each model's own (" + ", ".join(f"{n} {s.default_learning_rate:g}" for n, s in models.MODELS.items()) + ").",
        **fv,
    )
    flags.DEFINE_float("lr_decay", d.lr_decay, "Learning rate factor applied after every epoch.", **fv)
    flags.DEFINE_integer(
        "lr_decay_examples",
        d.lr_decay_examples,
        "Apply --lr_decay once per this many training examples seen instead of once per epoch "
        "(50000: the paper's CIFAR-10 schedule in steps, for subsets); 0 = every epoch.",
        **fv,
    )
    flags.DEFINE_float("momentum", d.momentum, "SGD momentum.", **fv)
    flags.DEFINE_integer("batch_size", d.batch_size, "Global batch size.", **fv)
    flags.DEFINE_integer(
        "epochs", d.epochs, "Maximum number of epochs (but see --crop_epochs and --random_label_epochs).", **fv
    )
    flags.DEFINE_integer(
        "crop_epochs",
        d.crop_epochs,
        "Maximum number of epochs of a run with --random_crop, whose "
        "running accuracy on fresh crops never reaches 100%; 0 = --epochs.",
        **fv,
    )
    flags.DEFINE_integer(
        "random_label_epochs",
        d.random_label_epochs,
        "Maximum number of epochs of a run whose "
        "every training label is random (random_labels, random_signs), which takes longer to fit "
        "than true labels (the paper's Figure 1a); 0 = --epochs.",
        **fv,
    )
    flags.DEFINE_bool("stop_when_fit", d.stop_when_fit, "Stop once an epoch's training accuracy reaches 100%.", **fv)
    flags.DEFINE_integer(
        "eval_every",
        d.eval_every,
        "Test-set metrics in the curves every N epochs; the final numbers are always evaluated.",
        **fv,
    )
    flags.DEFINE_integer(
        "curve_test_size",
        d.curve_test_size,
        "Test examples behind those curves (a fixed "
        "class-stratified subset of the test set); 0 = all. The final numbers use the whole test "
        "set.",
        **fv,
    )
    flags.DEFINE_bool(
        "measures",
        d.measures,
        "Compute a finished run's generalization measures (norms, margin, sharpness: docs/measures.md) into "
        "its record and TensorBoard; a finished run without them gets them on its next pass, not retrained. "
        "They do not change the run's numbers.",
        **fv,
    )
    flags.DEFINE_integer("seed", d.seed, "Seed of initialization, corruption, subset and shuffling.", **fv)
    flags.DEFINE_bool(
        "deterministic", d.deterministic, "Deterministic TensorFlow ops (same flags -> same numbers).", **fv
    )
    flags.DEFINE_enum(
        "precision",
        d.precision,
        runs.PRECISIONS,
        "Keras dtype policy: float32 (the paper's), or "
        "mixed precision for GPUs with float16 or bfloat16 units (weights and logits stay float32). "
        "Not chosen for you: it changes the numbers (docs/speed.md).",
        **fv,
    )
    flags.DEFINE_integer(
        "cpu_devices",
        d.cpu_devices,
        "Without a GPU: split the CPU into this many logical devices "
        "and mirror training over them (tf.distribute.MirroredStrategy; --batch_size stays global). "
        "With several GPUs every GPU is used.",
        **fv,
    )
    flags.DEFINE_integer(
        "threads",
        d.threads,
        "TensorFlow's intra-op threads, the pool a CPU kernel splits its work over; 0 = TensorFlow's own, one "
        "per core. Part of a run's identity: Inception-small's sums come out in another order with another "
        "count, and so do its numbers (docs/scaling.md).",
        **fv,
    )
    flags.DEFINE_integer(
        "steps_per_execution",
        d.steps_per_execution,
        "Train steps per call into TensorFlow "
        "(Keras' steps_per_execution): fewer calls cost less Python time per step; the numbers are "
        "the same whatever it is.",
        **fv,
    )
    flags.DEFINE_boolean(
        "allow_mixed_environment",
        d.allow_mixed_environment,
        "Resume an unfinished run in another compute environment (CPU, instruction set, threads, versions, GPU) "
        "than the one it started in, whose numbers are then of neither; the record lists both "
        "(docs/determinism.md). Without it such a resume is refused.",
        **fv,
    )
    flags.DEFINE_string(
        "results_dir", d.results_dir, "Directory holding one subdirectory per run (created if missing).", **fv
    )
    flags.DEFINE_string("run_name", d.run_name, "Run subdirectory name; default: built from the config.", **fv)
    flags.DEFINE_integer(
        "verbose",
        d.verbose,
        "Output while training: 0 none, 1 Keras' progress bar, 2 one line per epoch (accuracies, gap, ETA).",
        **fv,
    )
    # How an experiment's runs are spread (rethink_tf.experiments.runner); not part of any run's identity.
    flags.DEFINE_integer(
        "workers",
        1,
        "Experiments: local worker processes that share the runs (each trains whole runs at their own --threads; "
        "with GPUs, one GPU each); 1 = train them in this process.",
        lower_bound=1,
        **fv,
    )
    flags.DEFINE_enum(
        "engine",
        "local",
        list(ENGINES),
        "Experiments: local = this machine (--workers processes); ray = every run a Ray task on the cluster "
        "at --ray_address (pip install 'rethink_tf[ray]'), the results dir on storage every node sees.",
        **fv,
    )
    flags.DEFINE_string(
        "ray_address",
        None,
        "--engine=ray: the address of a running Ray cluster (ray start --head prints it; 'auto' finds the local "
        "one); unset = start a Ray instance on this machine for the experiment.",
        **fv,
    )
    # Options of single experiments (each experiment names the ones it reads).
    flags.DEFINE_integer(
        "random_label_seeds",
        1,
        "Table 1: seeds of each random-label row (--seed, --seed + 1, "
        "...), reported as their mean: on a few hundred examples one draw of random labels moves "
        "test accuracy by about 2 points.",
        lower_bound=1,
        **fv,
    )
    flags.DEFINE_multi_enum(
        "single_seed_models",
        [],
        MODEL_KEYS,
        "Table 1: architectures whose random-label "
        "row runs once whatever --random_label_seeds says (a run too long to repeat).",
        **fv,
    )
    flags.DEFINE_multi_float(
        "corrupt_levels",
        [k / 10 for k in range(11)],
        "Figure 1 (b, c): the label corruption levels p of the sweep (repeat the flag for each; 0 is needed).",
        lower_bound=0.0,
        upper_bound=1.0,
        **fv,
    )
    flags.DEFINE_enum(
        "oracle",
        "bayesian",
        ["bayesian", "random"],
        "rethink_tf.tune: keras-tuner's oracle, Bayesian optimization or random search.",
        **fv,
    )
    flags.DEFINE_integer("max_trials", 10, "rethink_tf.tune: trials (runs) of the search.", lower_bound=1, **fv)
    flags.DEFINE_multi_float(
        "learning_rates",
        [0.001, 0.3],
        "rethink_tf.tune: the lowest and the highest learning rate searched (log scale; give the flag twice).",
        lower_bound=0.0,
        **fv,
    )
    flags.DEFINE_multi_integer(
        "batch_sizes", [32, 64, 128], "rethink_tf.tune: the batch sizes searched.", lower_bound=1, **fv
    )
    flags.DEFINE_multi_float(
        "bn_momenta",
        [0.9, 0.99],
        "rethink_tf.tune: the batch-norm momenta searched (models with batch norm).",
        lower_bound=0.0,
        upper_bound=0.999,
        **fv,
    )
    flags.DEFINE_float(
        "kernel_l2", 1e-3, "Table 3: the l2 term of the regularized row, (K + l2 I) alpha = Y.", lower_bound=0.0, **fv
    )
    flags.DEFINE_integer(
        "random_filters", 64, "Table 3: random 5x5 filters of the random-feature rows.", lower_bound=1, **fv
    )


def apply_preset(flag_values: flags.FlagValues = FLAGS, preset: str | None = None) -> None:
    """Sets every flag the command line left unset from the preset flagfile."""
    preset = preset or flag_values.preset
    path = os.path.join(PRESETS_DIR, f"{preset}.flags")
    if not os.path.exists(path):
        raise config_lib.ConfigError(f"--preset={preset!r}: no flagfile {path}; reinstall rethink_tf")
    given = {name for name in flag_values if flag_values[name].present}
    # Read the file with absl's own flagfile parser, then copy only the flags not given.
    args = flag_values.read_flags_from_files([f"--flagfile={path}"], force_gnu=True)
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        if name.startswith("no") and name[2:] in flag_values and not value:
            name, value = name[2:], "false"
        if name not in flag_values:
            raise config_lib.ConfigError(f"{path}: unknown flag --{name}")
        if name not in given:
            flag_values[name].parse(value if value else "true")
            flag_values[name].present = 0


def from_flags(flag_values: flags.FlagValues = FLAGS) -> config_lib.RunConfig:
    """The parsed flags (after apply_preset) as a validated RunConfig whose names the registries know. Its
    learning rate stays None unless a flag sets it: each run of an experiment then takes its model's own."""
    names = {f.name for f in dataclasses.fields(config_lib.RunConfig)}
    base = config_lib.RunConfig(**{name: flag_values[name].value for name in names}).validate()
    runs.check_names(base)
    return base


def options(names: tuple[str, ...], flag_values: flags.FlagValues = FLAGS) -> dict[str, Any]:
    """An experiment's own options, by flag name."""
    return {
        name: (tuple(flag_values[name].value) if isinstance(flag_values[name].value, list) else flag_values[name].value)
        for name in names
    }


# ------------------------------------------------------------------------------------------------------------
# Entry points: parsing, --help, one-line errors
# ------------------------------------------------------------------------------------------------------------


def prog() -> str:
    """The name the user ran: the module of `python -m`, else the script."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return spec.name if spec else os.path.basename(sys.argv[0])


def error(message: str, status: int = 2) -> None:
    print(f"{prog()}: error: {message}", file=sys.stderr)
    sys.exit(status)


def help_text(doc: str, groups, flag_values: flags.FlagValues = FLAGS) -> str:
    """The entry point's docstring, then its flags group by group, each with its help and default."""
    out = [textwrap.dedent(doc or "").strip(), ""]
    for title, names in groups:
        out.append(f"{title}:")
        for name in names:
            flag = flag_values[name]
            default = flag.default_as_str if flag.default is not None else "unset"
            out.append(f"  --{name} (default: {default})")
            out += textwrap.wrap(flag.help, width=100, initial_indent="      ", subsequent_indent="      ")
        out.append("")
    if any("preset" in names for _, names in groups):
        out.append(
            "Flags not set on the command line come from --preset (laptop unless given). --helpfull lists every "
            "flag of every module; --flagfile=FILE reads flags from a file."
        )
    return "\n".join(out).rstrip() + "\n"


def flags_parser(doc: str, groups, flag_values: flags.FlagValues = FLAGS):
    """An absl flags_parser for app.run: --help prints help_text and exits 0; a bad flag is one line, exit 2.
    The entry point's flags are also declared its key flags, for absl's own help."""
    from rethink_tf.settings import use_command_line_settings  # the command line's oneDNN (rethink_tf/settings.py)

    use_command_line_settings()
    main_module = sys.argv[0]
    for _, names in groups:
        for name in names:
            flag_values.register_key_flag_for_module(main_module, flag_values[name])

    def parse(argv: list[str]) -> list[str]:
        if any(arg in ("-h", "-?", "--help", "--helpshort") for arg in argv[1:]):
            print(help_text(doc, groups, flag_values))
            sys.exit(0)
        try:
            return flag_values(argv)
        except flags.Error as e:
            error(str(e))

    return parse


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Bad input (flags, run directories, data) ends the program with one line naming the problem and the fix,
    status 2. SIGINT and SIGTERM stop it the same way (the run's record says "interrupted"), with status 130,
    also when a shell started it in the background with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    except KeyboardInterrupt as e:
        error(f"stopped by {str(e) or 'SIGINT'}; run the same command again to continue where it stopped", status=130)
    except Exception as e:
        if isinstance(e, (BadInput, flags.Error)):
            error(str(e))
        raise


def run_config(argv: list[str]) -> config_lib.RunConfig:
    """The base RunConfig of the parsed command line and its preset, its results directory checked to be
    usable (call inside one_line_errors)."""
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    apply_preset(FLAGS)
    base = from_flags(FLAGS)
    records.check_results_dir(base.results_dir)
    return base
