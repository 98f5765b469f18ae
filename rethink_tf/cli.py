"""The command line: every flag, the presets, grouped --help, and one-line errors. The only module that reads
FLAGS; it turns them into a RunConfig (and an experiment's options) for the layers below.

No flag is declared here: a run's flags are the fields of config.RunConfig, an experiment's its options
dataclass (beside its EXPERIMENT), each declared once with config.setting(...) (default, help, group, placement,
choices). This module defines flags from those declarations, fills in what the registries below it know (CHOICES,
HELP_FACTS), and writes the same declarations as --help and as docs/flags.md (tools/flags_doc.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import textwrap
import typing
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
# The registries a setting's choices may name (config.setting(choices="models")): config may not import them.
CHOICES: dict[str, tuple[str, ...]] = {
    "presets": PRESETS,
    "models": tuple(models.MODELS),
    "model_keys": MODEL_KEYS,
    "corruptions": tuple(corrupt.CORRUPTIONS),
    "gaussian_stats": tuple(corrupt.GAUSSIAN_STATS),
    "precisions": tuple(runs.PRECISIONS),
}
# The {placeholders} of help texts: what the registries below config know.
HELP_FACTS = {
    "datasets": ", ".join(sources.DATASETS),
    "fashion_mnist_dir": sources.FASHION_MNIST_DIR,
    "with_batch_norm": ", ".join(models.WITH_BATCH_NORM),
    "learning_rates": ", ".join(f"{n} {s.default_learning_rate:g}" for n, s in models.MODELS.items()),
}
ENGINES = ("local", "ray")


@dataclasses.dataclass(frozen=True)
class ScaleOut:
    """How an experiment's runs are spread (rethink_tf.experiments.runner); not part of any run's identity."""

    workers: int = config_lib.setting(
        1,
        "Experiments: local worker processes that share the runs (each trains whole runs at their own --threads; "
        "with GPUs, one GPU each); 1 = train them in this process.",
        lower_bound=1,
    )
    engine: str = config_lib.setting(
        "local",
        "Experiments: local = this machine (--workers processes); ray = every run a Ray task on the cluster "
        "at --ray_address (pip install 'rethink_tf[ray]'), the results dir on storage every node sees.",
        choices=ENGINES,
    )
    ray_address: str | None = config_lib.setting(
        None,
        "--engine=ray: the address of a running Ray cluster (ray start --head prints it; 'auto' finds the local "
        "one); unset = start a Ray instance on this machine for the experiment.",
    )


def names(declared: type) -> tuple[str, ...]:
    """The flag names of a dataclass of settings (RunConfig, ScaleOut, an experiment's options)."""
    return tuple(f.name for f in dataclasses.fields(declared))


# --help shows these groups in this order (config.GROUPS): what a user usually changes first.
RUN_GROUPS = tuple(
    (title, tuple(f.name for f in dataclasses.fields(config_lib.RunConfig) if f.metadata["group"] == title))
    for title in config_lib.GROUPS
)
# The flags of an experiment's entry point that say where its runs train, not what they compute.
SCALE_OUT_GROUP = ("Scaling out the grid (docs/scaling.md)", names(ScaleOut))
OPTIONS_TITLE = "Options of this experiment"


class UsageError(BadInput, ValueError):
    """A command line that cannot run (arguments, not flags)."""


def flag_help(field: dataclasses.Field) -> str:
    """A setting's help text, its {placeholders} filled in from HELP_FACTS."""
    return field.metadata["help"].format_map(HELP_FACTS)


def choices(field: dataclasses.Field) -> tuple[str, ...] | None:
    named = field.metadata["choices"]
    return CHOICES[named] if isinstance(named, str) else named


def _define(field: dataclasses.Field, kind: Any, flag_values: flags.FlagValues) -> None:
    """One flag from one declared field: its type from the annotation (bool, int, float, str, or a tuple of one
    of them for a flag given once per value), an enum where the field has choices."""
    meta, name = field.metadata, field.name
    default, helptext, allowed = meta["flag_default"], flag_help(field), choices(field)
    bounds = {k: meta[k] for k in ("lower_bound", "upper_bound") if meta[k] is not None}
    common = {"flag_values": flag_values}
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        default = list(default)
        if allowed:
            flags.DEFINE_multi_enum(name, default, list(allowed), helptext, **common)
        elif item is float:
            flags.DEFINE_multi_float(name, default, helptext, **bounds, **common)
        elif item is int:
            flags.DEFINE_multi_integer(name, default, helptext, **bounds, **common)
        else:
            flags.DEFINE_multi_string(name, default, helptext, **common)
        return
    kind = next((k for k in typing.get_args(kind) if k is not type(None)), kind)  # X | None: an X, maybe unset
    if allowed:
        flags.DEFINE_enum(name, default, list(allowed), helptext, **common)
    elif kind is bool:
        flags.DEFINE_bool(name, default, helptext, **common)
    elif kind is int:
        flags.DEFINE_integer(name, default, helptext, **bounds, **common)
    elif kind is float:
        flags.DEFINE_float(name, default, helptext, **bounds, **common)
    else:
        flags.DEFINE_string(name, default, helptext, **common)


def define_options(declared: type, flag_values: flags.FlagValues = FLAGS) -> None:
    """Defines a dataclass of settings (an experiment's options, ScaleOut, RunConfig) as flags of the same names;
    a flag already defined is left as it is (so entry points and tests can both call it)."""
    kinds = typing.get_type_hints(declared)
    for field in dataclasses.fields(declared):
        if field.name not in flag_values:
            _define(field, kinds[field.name], flag_values)


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """Defines the flags of every entry point: a run's (RunConfig's fields) and how an experiment's runs are
    spread (ScaleOut's). Idempotent. An experiment's own options come from define_options(its options class)."""
    define_options(config_lib.RunConfig, flag_values)
    define_options(ScaleOut, flag_values)


def preset_path(preset: str) -> str:
    path = os.path.join(PRESETS_DIR, f"{preset}.flags")
    if not os.path.exists(path):
        raise config_lib.ConfigError(f"--preset={preset!r}: no flagfile {path}; reinstall rethink_tf")
    return path


def preset_values(preset: str, known: typing.Container[str]) -> tuple[dict[str, list[str]], set[str]]:
    """A preset flagfile read as absl reads a flagfile: each flag's values (one per line that names it; a
    boolean's --name / --noname, for a `known` name, as "true" / "false"), and the names its --undefok line
    lists."""
    path = preset_path(preset)
    values: dict[str, list[str]] = {}
    undefok: set[str] = set()
    for arg in flags.FlagValues().read_flags_from_files([f"--flagfile={path}"], force_gnu=True):
        name, eq, value = arg.lstrip("-").partition("=")
        if name == "undefok":
            undefok |= {v.strip() for v in value.split(",") if v.strip()}
        elif eq:
            values.setdefault(name, []).append(value)
        elif name not in known and name.startswith("no") and name[2:] in known:
            values.setdefault(name[2:], []).append("false")
        else:
            values.setdefault(name, []).append("true")
    return values, undefok


def apply_preset(flag_values: flags.FlagValues = FLAGS, preset: str | None = None) -> None:
    """Makes the preset flagfile's values the flags' defaults (absl's FlagValues.set_default), so a flag given on
    the command line still wins, and a flag given several times in the file (a multi flag) takes every value.
    A preset line naming a flag this program does not define is skipped when the preset's --undefok line names
    it (absl's own meaning: an experiment's option, such as Table 1's --random_label_seeds in the laptop preset
    that rethink_tf.train also reads); any other unknown name is an error naming the file (a misspelling)."""
    preset = preset or flag_values.preset
    path = preset_path(preset)
    values, undefok = preset_values(preset, flag_values)
    for name, given in values.items():
        if name not in flag_values:
            if name in undefok or (name.startswith("no") and name[2:] in undefok):
                continue
            raise config_lib.ConfigError(f"{path}: unknown flag --{name}")
        multi = isinstance(flag_values[name], flags.MultiFlag)
        try:
            flag_values.set_default(name, given if multi else given[-1])
        except (flags.Error, ValueError) as e:
            raise config_lib.ConfigError(f"{path}: --{name}={given[-1]}: {e}") from None


def from_flags(flag_values: flags.FlagValues = FLAGS) -> config_lib.RunConfig:
    """The parsed flags (after apply_preset) as a RunConfig checked once (runs.check: its values and its names
    against the registries). Its learning rate stays None unless a flag sets it: each run of an experiment then
    takes its model's own."""
    return runs.check(options(config_lib.RunConfig, flag_values))


def options(declared: type, flag_values: flags.FlagValues = FLAGS) -> Any:
    """A dataclass of settings (an experiment's options, ScaleOut, RunConfig) from the flags of its fields'
    names; a flag given once per value as a tuple."""
    return declared(
        **{
            name: tuple(flag_values[name].value)
            if isinstance(flag_values[name].value, list)
            else flag_values[name].value
            for name in names(declared)
        }
    )


def option_groups(declared: type | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The --help group of an experiment's options class (none without one)."""
    return ((OPTIONS_TITLE, names(declared)),) if declared else ()


def markdown_rows(declared: type, flag_values: flags.FlagValues, presets: dict[str, dict[str, list[str]]]) -> list[str]:
    """docs/flags.md's table rows of a dataclass of settings: flag, default, what each preset sets, meaning
    (the help, its choices, and whether it is placement)."""

    def code(text: str) -> str:
        return f"`{text}`" if text else "`''`"

    rows = []
    for field in dataclasses.fields(declared):
        flag = flag_values[field.name]
        default = "unset" if flag.default is None else code(flag.default_as_str.strip("'"))
        set_by = "; ".join(
            f"{preset}: {', '.join(code(v) for v in got[field.name])}"
            for preset, got in presets.items()
            if field.name in got
        )
        meaning = flag_help(field).replace("|", "\\|").replace("<", "\\<")
        allowed = choices(field)
        if allowed:
            meaning += " One of " + ", ".join(code(c) for c in allowed) + "."
        if field.metadata["placement"]:
            meaning += " *Placement: not part of the run's identity.*"
        rows.append(f"| `--{field.name}` | {default} | {set_by or '–'} | {meaning} |")
    return rows


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
