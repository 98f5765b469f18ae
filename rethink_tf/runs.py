"""From a base RunConfig to the configs that train: the one place a model's default learning rate applies and
a config's names (model, data set, corruption, precision) are checked against the registries that own them."""

from __future__ import annotations

import dataclasses

from rethink_tf import models
from rethink_tf.config import ConfigError, RunConfig
from rethink_tf.data import corrupt, sources

# Keras dtype policies --precision may name: float32 everywhere, or float16 / bfloat16 compute with float32
# weights (mixed_float16 adds Keras' dynamic loss scaling).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check_names(config: RunConfig) -> None:
    """ConfigError for a name no registry knows, or a combination a model cannot run."""

    def need(ok: bool, flag: str, allowed: str) -> None:
        if not ok:
            raise ConfigError(f"--{flag}={getattr(config, flag)!r} is not allowed: {allowed}")

    need(config.model in models.MODELS, "model", f"one of {', '.join(models.MODELS)}")
    try:
        source = sources.parse(config.dataset)
    except ValueError as err:
        raise ConfigError(f"--dataset={config.dataset!r} is not allowed: {err}") from None
    tfds_read = source.kind in ("tfds", "mnist", "cifar10", "fashion_mnist")
    need(tfds_read or not config.download, "download", "only tfds sources download (tfds:NAME, mnist, cifar10)")
    for flag in ("train_split", "test_split"):
        need(
            source.kind == "tfds" or getattr(config, flag) == flag.split("_")[0],
            flag,
            "only tfds:NAME sources have named splits; npz, folder and the built-in sets have train and test",
        )

    need(config.corruption in corrupt.CORRUPTIONS, "corruption", f"one of {', '.join(corrupt.CORRUPTIONS)}")
    need(config.precision in PRECISIONS, "precision", f"one of {', '.join(PRECISIONS)}")
    need(
        config.gaussian_stats in corrupt.GAUSSIAN_STATS, "gaussian_stats", f"one of {', '.join(corrupt.GAUSSIAN_STATS)}"
    )
    need(
        config.batch_norm or models.MODELS[config.model].has_batch_norm,
        "batch_norm",
        f"only models with batch norm can turn it off ({', '.join(models.WITH_BATCH_NORM)})",
    )
    spec = models.MODELS[config.model]
    need(
        not config.hidden_units or spec.width == "units",
        "hidden_units",
        f"the MLPs' hidden units ({', '.join(models.WIDTHS['units'])}); for {config.model} see --width_multiplier",
    )
    need(
        config.width_multiplier == 1.0 or spec.width == "multiplier",
        "width_multiplier",
        f"it scales {', '.join(models.WIDTHS['multiplier'])}; for the MLPs give --hidden_units",
    )
    with_noise = ", ".join(n for n, s in models.MODELS.items() if s.has_noise)
    for flag in ("input_dropout", "input_noise", "hidden_noise"):
        need(
            not getattr(config, flag) or models.MODELS[config.model].has_noise,
            flag,
            f"Arpit et al.'s noise layers are built into {with_noise}, not {config.model}",
        )


# Configs whose values passed check: a pure function of them, so one equal to a checked config is not checked
# again (RunConfig is frozen and hashable).
_CHECKED: set[RunConfig] = set()


def check(config: RunConfig) -> RunConfig:
    """The config, once its values are valid (RunConfig.validate) and its names known (check_names): raises
    ConfigError for the first that is not. Each distinct config is checked once per process, whichever of
    rethink_tf.cli.from_flags, resolve or derive sees it first."""
    if config not in _CHECKED:
        config.validate()
        check_names(config)
        _CHECKED.add(config)
    return config


def resolve(config: RunConfig) -> RunConfig:
    """The config ready to train: checked (once: see check), the model's default learning rate filled in where
    the config leaves it None. Resolving a resolved config returns it unchecked again."""
    check(config)
    if config.learning_rate is None:
        config = dataclasses.replace(config, learning_rate=models.MODELS[config.model].default_learning_rate)
        _CHECKED.add(config)  # a model's own learning rate is a valid one: nothing else changed
    return config


def derive(base: RunConfig, **changes) -> RunConfig:
    """One run of an experiment: the base with `changes`, its own default run name, resolved. The base's
    learning rate, when set (by the command line or the preset), applies to every run; else each model's own."""
    return resolve(dataclasses.replace(base, run_name="", **changes))


# Every explicit regularizer off, the paper's and Arpit et al.'s: the runs of an experiment that trains "without
# regularization".
NO_REGULARIZER = {
    "random_crop": False,
    "augment": False,
    "weight_decay": 0.0,
    "dropout": 0.0,
    "input_dropout": 0.0,
    "input_noise": 0.0,
    "hidden_noise": 0.0,
    "adversarial": 0.0,
}


def unregularized(base: RunConfig, **changes) -> RunConfig:
    """derive(), with every explicit regularizer off (NO_REGULARIZER) whatever the base says."""
    return derive(base, **{**NO_REGULARIZER, **changes})


def default_weight_decay(model: str) -> float:
    return models.MODELS[model].default_weight_decay
