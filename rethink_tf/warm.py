"""Compiled models kept across the runs of one process, so that a run of the same graph as an earlier run reuses the
functions Keras and the package traced for it (train and test steps, the CSR search) instead of tracing them again:
a short run's largest fixed cost (docs/speed.md, "What a run costs beyond its epochs").

A kept model takes every variable of the run's freshly built and compiled one (weights, BatchNorm statistics,
noise counters, the optimizer's step, learning rate and slots, the metrics), so it trains from exactly where the
fresh model would: the same graph on the same values, the same bits (tests/test_warm.py). Only models on one
replica (the default strategy) are kept; a model with a seeded random layer is kept for its seed alone, as the
seed is part of its graph. One run at a time per process, as every engine of the package trains (workers, Ray
tasks, keras-tuner trials): two threads training runs of one graph at once would share a model.
"""

from __future__ import annotations

import collections
from typing import Any

# Models kept, least recently used first: a grid alternating a few architectures keeps each.
SIZE = 4
_KEPT: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
# The config fields that shape a run's graph (fitting.build and compile_model read them); the others (data,
# corruption, seeds, budgets, paths) only change the values a kept model is given or the data it is fed.
GRAPH_FIELDS = (
    "model",
    "batch_norm",
    "bn_momentum",
    "weight_decay",
    "dropout",
    "input_dropout",
    "input_noise",
    "hidden_noise",
    "hidden_units",
    "width_multiplier",
    "adversarial",
    "adversarial_fraction",
    "optimizer",
    "momentum",
    "precision",
    "steps_per_execution",
)
# Fields that put a seeded random layer in the graph when nonzero (their seed is then part of the key).
_RANDOM_FIELDS = ("dropout", "input_dropout", "input_noise", "hidden_noise", "adversarial")


def key(config, input_shape, num_classes: int, dtype) -> tuple:
    """What a run's compiled graph depends on: GRAPH_FIELDS, the input's shape and dtype, the classes, and the
    training seed when a random layer reads it."""
    seed = config.train_seed if any(getattr(config, f) for f in _RANDOM_FIELDS) else None
    return (
        tuple(getattr(config, f) for f in GRAPH_FIELDS),
        tuple(int(d) for d in input_shape),
        int(num_classes),
        str(dtype),
        seed,
    )


def key_for(config, data) -> tuple:
    """key() of a run's config and its prepared data (rethink_tf.data.pipeline.Prepared)."""
    return key(config, data.input_shape, data.num_classes, data.train.images.dtype)


def _state(model) -> list:
    return [*model.variables, *model.optimizer.variables, *model.metrics_variables]


def adopt(model, graph_key: tuple, distribution):
    """The model to train: a kept model of the same graph key with all of `model`'s state assigned to it, or `model`
    itself (kept from now on when it is on the default strategy). `model` is freshly built and compiled, its
    optimizer's and metrics' variables made; call outside any strategy's scope."""
    import tensorflow as tf

    if distribution.num_replicas_in_sync != 1 or distribution is not tf.distribute.get_strategy():
        return model
    kept = _KEPT.get(graph_key)
    fresh = _state(model)
    if kept is not None:
        old = _state(kept)
        same = len(old) == len(fresh) and all(o.shape == f.shape and o.dtype == f.dtype for o, f in zip(old, fresh))
        if same:
            for o, f in zip(old, fresh):
                o.assign(f)
            # The one piece of a model's training state outside its variables that Keras keeps across fit calls:
            # the epoch a restored backup starts at (BackupAndRestore sets it, nothing resets it).
            kept._initial_epoch = model._initial_epoch
            _KEPT.move_to_end(graph_key)
            return kept
    _KEPT[graph_key] = model
    _KEPT.move_to_end(graph_key)
    while len(_KEPT) > SIZE:
        _KEPT.popitem(last=False)
    return model


def get(graph_key: tuple):
    """The kept model of that graph key, or None."""
    return _KEPT.get(graph_key)


def clear() -> None:
    """Forgets every kept model (tests; a notebook that wants the memory back)."""
    _KEPT.clear()
