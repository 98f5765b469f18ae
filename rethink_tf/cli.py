"""What the command-line entry points share: flag parsing, the preset, and one-line errors."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator

from absl import flags

from rethink_tf import config as config_lib
from rethink_tf import records
from rethink_tf.data import sources

FLAGS = flags.FLAGS


def prog() -> str:
    """The name the user ran: the module of `python -m`, else the script."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return spec.name if spec else os.path.basename(sys.argv[0])


def error(message: str, status: int = 2) -> None:
    print(f"{prog()}: error: {message}", file=sys.stderr)
    sys.exit(status)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser (for app.run), with a bad flag answered by one line and exit status 2."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        error(str(e))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Bad input ends the program with one line: status 2 for flags and run directories, 1 for data.
    SIGINT and SIGTERM stop it the same way (the run's record says "interrupted"), with status 130, also
    when a shell started it in the background with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    except (config_lib.ConfigError, records.RunDirError, flags.Error) as e:
        error(str(e))
    except sources.DataError as e:
        error(str(e), status=1)
    except KeyboardInterrupt as e:
        error(f"stopped by {str(e) or 'SIGINT'}; run the same command again to continue where it stopped", status=130)


def run_config(argv: list[str]) -> config_lib.RunConfig:
    """The validated RunConfig of the parsed command line and its preset (call inside one_line_errors)."""
    if len(argv) > 1:
        raise config_lib.ConfigError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    config_lib.apply_preset(FLAGS)
    return config_lib.from_flags(FLAGS)
