"""A grid row as data: the fields a paper row changes in the base config, declared once; the row's run and the
test "is this record the row's run" are both derived from them, so the two can never disagree."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from rethink_tf import config as config_lib
from rethink_tf import runs


def identity(config: config_lib.RunConfig) -> tuple:
    """What tells the rows of the paper's tables apart: the architecture, the corruption and its label noise (its
    input noise: a partial input corruption is no row's run), and which explicit regularizers are on (not their
    strength, the budget or the schedule)."""
    return (
        config.model,
        config.batch_norm,
        config.corruption,
        config.label_noise,
        config.corrupted_inputs,
        config.regularizers,
    )


def run_config(base: config_lib.RunConfig, changes: Mapping[str, Any]) -> config_lib.RunConfig:
    """The row's run: the base with the row's changes, resolved (rethink_tf.runs.derive)."""
    return runs.derive(base, **changes)


def matches(changes: Mapping[str, Any], config: config_lib.RunConfig) -> bool:
    """Whether a run's config (a record's .config) is a run of the row (any data set, subset, seed, budget or
    schedule)."""
    return identity(config) == identity(dataclasses.replace(config_lib.RunConfig(), **changes))
