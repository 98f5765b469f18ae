"""The tests' one way to parse a command line as an entry point does: flags, then the preset's unset ones."""

from __future__ import annotations

from absl import flags

from rethink_tf import cli, config


def parsed(*args: str, options: type | None = None) -> flags.FlagValues:
    """Fresh FlagValues holding every flag of rethink_tf.train (and of an experiment's `options` class, as its
    entry point defines them), parsed from args with the preset applied."""
    values = flags.FlagValues()
    cli.define_flags(values)
    if options:
        cli.define_options(options, values)
    values(["prog", *args])
    cli.apply_preset(values)
    return values


def base_config(*args: str) -> config.RunConfig:
    return cli.from_flags(parsed(*args))
