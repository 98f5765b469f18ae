"""Registry of the paper's CIFAR-10 models (Zhang et al. 2017, Table 1): builders, paper names, defaults.

Every builder returns a functional `keras.Model` named after its registry key that outputs logits (train
with `from_logits=True`), builds for any HxWxC input, seeds every initializer from `seed`, and, when
`weight_decay > 0`, puts `keras.regularizers.L2(weight_decay)` on every conv and dense kernel, i.e.
loss += weight_decay * sum(w**2) (gradient 2 * weight_decay * w; biases and BN offsets are not decayed).

`default_weight_decay` = 5e-4 for every model *(inferred)*: the paper only says "the default coefficient
for each model" and does not give a value.
"""

import dataclasses
import math
from typing import Callable

import keras

from rethink_tf.models import alexnet, inception, mlp
from rethink_tf.models.dense import Dense

__all__ = ["Dense", "MODELS", "WITH_BATCH_NORM", "ModelSpec", "build_model", "paper_name", "paper_param_count"]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One paper model: its builder, its name in the paper's Table 1 and its training defaults."""

    name: str
    build: Callable[..., keras.Model]
    paper_name: str
    has_batch_norm: bool
    default_learning_rate: float
    default_weight_decay: float


_DEFAULT_WEIGHT_DECAY = 5e-4

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("inception_small", inception.build, "Inception", True, 0.1, _DEFAULT_WEIGHT_DECAY),
        ModelSpec("alexnet_small", alexnet.build, "AlexNet", False, 0.01, _DEFAULT_WEIGHT_DECAY),
        ModelSpec("mlp_1x512", mlp.build_1x512, "MLP 1x512", False, 0.01, _DEFAULT_WEIGHT_DECAY),
        ModelSpec("mlp_3x512", mlp.build_3x512, "MLP 3x512", False, 0.01, _DEFAULT_WEIGHT_DECAY),
    )
}
# The models whose batch norm --nobatch_norm can remove (the paper's "w/o BatchNorm").
WITH_BATCH_NORM = tuple(name for name, spec in MODELS.items() if spec.has_batch_norm)


def build_model(
    name: str,
    *,
    input_shape,
    num_classes: int,
    batch_norm: bool = True,
    bn_momentum: float = 0.99,
    sync_batch_norm: bool = False,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> keras.Model:
    """Builds registry model `name`; `batch_norm=False` (the paper's "w/o BatchNorm") only for inception_small;
    `sync_batch_norm` computes batch statistics over the global batch of all replicas of a tf.distribute strategy."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}")
    spec = MODELS[name]
    kwargs = dict(weight_decay=weight_decay, seed=seed)
    if spec.has_batch_norm:
        kwargs.update(batch_norm=batch_norm, bn_momentum=bn_momentum, sync_batch_norm=sync_batch_norm)
    elif not batch_norm:
        raise ValueError(f"--batch_norm applies only to inception_small; {name!r} has no batch norm to remove")
    return spec.build(tuple(input_shape), num_classes, **kwargs)


def paper_name(name: str, batch_norm: bool = True) -> str:
    """The architecture's name in the paper's tables, e.g. "Inception w/o BatchNorm"."""
    return MODELS[name].paper_name + ("" if batch_norm else " w/o BatchNorm")


def paper_param_count(model: keras.Model) -> int:
    """Trainable parameters, the paper's convention (BN offsets count; BN moving statistics do not)."""
    return sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)
