"""The process settings of the command line, which `import rethink_tf` leaves alone: a library changes nothing of
the process that imports it (environment variables, sys.meta_path), so a notebook runs TensorFlow as it would
without rethink_tf unless it asks for the command line's settings.

The command line's entry points get them before TensorFlow loads: `python -m rethink_tf.<entry point>` from
rethink_tf/__init__.py (the entry points import TensorFlow at module level, so their own code runs too late),
cli.flags_parser and the scripts in tools/ by calling use_command_line_settings() first. They are:

- TF_ENABLE_ONEDNN_OPTS=1 unless set: TensorFlow's oneDNN kernels, off by default on some x86 CPUs, train the
  conv nets faster on the 2-core CPUs this package is sized for (docs/speed.md) and change their numbers; a
  run's record says whether they ran (records.onednn_enabled). TensorFlow reads the variable once, as it loads.
- TensorFlow's start-up lines on stderr hidden (rethink_tf/quiet.py) unless TF_CPP_MIN_LOG_LEVEL is set.

Child processes (an experiment's --workers, a local Ray instance) inherit both through the environment.
"""

from __future__ import annotations

import os
import sys

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"
# What the command line sets where the user has not: variable -> value.
COMMAND_LINE_ENV = {ONEDNN: "1"}


def _onednn_requested() -> bool:
    # TensorFlow's own reading of the variable (tensorflow/core/util/util.cc): "1" or "true", any case, is on.
    return os.environ.get(ONEDNN, "").lower() in ("1", "true")


def use_command_line_settings() -> bool:
    """Gives this process the command line's settings: TF_ENABLE_ONEDNN_OPTS=1 (unless already set: an explicit
    setting wins) and TensorFlow's start-up lines hidden (unless TF_CPP_MIN_LOG_LEVEL is set). Call it before
    anything imports TensorFlow, e.g. in a notebook's first cell; runs trained then have the command line's
    numbers, bit for bit on the same machine and software.

    Returns True if the settings are in effect. Where TensorFlow was loaded already and runs oneDNN otherwise
    than asked, it cannot change any more: one line on stderr says so and what to do, and it returns False
    (the runs' records then say `onednn` false, telling them apart from the command line's)."""
    for name, value in COMMAND_LINE_ENV.items():
        os.environ.setdefault(name, value)
    if "tensorflow" not in sys.modules:
        from rethink_tf import quiet

        quiet.hide_tensorflow_start_up()
        return True
    from rethink_tf import records

    running = records.onednn_enabled()
    if running is None or running == _onednn_requested():
        return True
    print(
        f"rethink_tf: warning: TensorFlow was loaded before use_command_line_settings() and runs with oneDNN "
        f"{'on' if running else 'off'} whatever {ONEDNN}={os.environ[ONEDNN]} says, so runs trained here differ "
        "from the command line's; restart the Python process (kernel) and call "
        "rethink_tf.use_command_line_settings() before anything imports TensorFlow",
        file=sys.stderr,
        flush=True,
    )
    return False


def run_as_program() -> bool:
    """Whether Python is starting one of the package's modules as the program (`python -m rethink_tf.X`): while
    `-m` looks its module up, sys.argv[0] is "-m" (the module's path only once found)."""
    argv = getattr(sys, "orig_argv", [])
    named = [b for a, b in zip(argv, argv[1:]) if a == "-m"] + [a[2:] for a in argv if a.startswith("-m") and a != "-m"]
    return sys.argv[:1] == ["-m"] and any(name.split(".")[0] == "rethink_tf" for name in named)
