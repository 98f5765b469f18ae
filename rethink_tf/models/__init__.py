"""Registry of the paper's models (Zhang et al. 2017): Table 1's CIFAR-10 models and Table 2's Inception V3 on
ImageNet: builders, paper names, defaults.

Every builder returns a functional `keras.Model` named after its registry key that outputs logits (train
with `from_logits=True`), builds for any HxWxC input, seeds every initializer from `seed`, and, when
`weight_decay > 0`, puts `keras.regularizers.L2(weight_decay)` on every conv and dense kernel, i.e.
loss += weight_decay * sum(w**2) (gradient 2 * weight_decay * w; biases and BN offsets are not decayed).

`default_weight_decay` = 5e-4 for Table 1's models *(inferred)*: the paper only says "the default coefficient
for each model" and does not give a value; 4e-5 for Inception V3, the coefficient of TensorFlow's own Inception V3
training (slim's inception_v3_arg_scope) *(inferred: the paper names TensorFlow's Inception setup, not the value)*.
"""

import dataclasses
import math
from typing import Callable

import keras

from rethink_tf.models import alexnet, inception, inception_v3, mlp
from rethink_tf.models._common import Noise
from rethink_tf.models.dense import Dense

__all__ = [
    "Dense",
    "MODELS",
    "WITH_BATCH_NORM",
    "ModelSpec",
    "build_model",
    "paper_name",
    "paper_param_count",
    "published_param_count",
]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One paper model: its builder, its name in the paper's Table 1 and its training defaults."""

    name: str
    build: Callable[..., keras.Model]
    paper_name: str
    has_batch_norm: bool
    default_learning_rate: float
    default_weight_decay: float
    # The paper's parameter count, for its input (Table 1: 28x28x3, 10 classes); None where it gives none.
    paper_param_count: int | None = None
    paper_input: tuple[int, int, int] = (28, 28, 3)
    paper_classes: int = 10
    # Arpit et al.'s regularizers (--dropout after each hidden layer, --input_dropout, --input_noise,
    # --hidden_noise: _common.Noise); inception_v3, Keras' own, has only its dropout before the logits.
    has_noise: bool = True
    # Capacity sweeps: "units", the MLPs' hidden units (--hidden_units); "multiplier", every channel and hidden
    # unit scaled (--width_multiplier); None, neither.
    width: str | None = None
    min_input: int = 1  # the smallest side it builds for


_DEFAULT_WEIGHT_DECAY = 5e-4

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "inception_small",
            inception.build,
            "Inception",
            True,
            0.1,
            _DEFAULT_WEIGHT_DECAY,
            1_649_402,
            width="multiplier",
        ),
        ModelSpec(
            "alexnet_small", alexnet.build, "AlexNet", False, 0.01, _DEFAULT_WEIGHT_DECAY, 1_387_786, width="multiplier"
        ),
        ModelSpec(
            "mlp_1x512", mlp.build_1x512, "MLP 1x512", False, 0.01, _DEFAULT_WEIGHT_DECAY, 1_209_866, width="units"
        ),
        ModelSpec(
            "mlp_3x512", mlp.build_3x512, "MLP 3x512", False, 0.01, _DEFAULT_WEIGHT_DECAY, 1_735_178, width="units"
        ),
        # The paper trains Inception V3 as TensorFlow's ImageNet recipe does (learning rate 0.045 is that
        # recipe's, for batch 32 per replica).
        ModelSpec(
            "inception_v3",
            inception_v3.build,
            "Inception V3",
            False,
            0.045,
            4e-5,
            paper_input=(299, 299, 3),
            paper_classes=1000,
            has_noise=False,
            min_input=inception_v3.MIN_INPUT,
        ),
    )
}
# The models whose batch norm --nobatch_norm can remove (the paper's "w/o BatchNorm").
WITH_BATCH_NORM = tuple(name for name, spec in MODELS.items() if spec.has_batch_norm)
# The models each width setting applies to: "units" (--hidden_units), "multiplier" (--width_multiplier).
WIDTHS = {kind: tuple(name for name, spec in MODELS.items() if spec.width == kind) for kind in ("units", "multiplier")}


def build_model(
    name: str,
    *,
    input_shape,
    num_classes: int,
    batch_norm: bool = True,
    bn_momentum: float = 0.99,
    sync_batch_norm: bool = False,
    weight_decay: float = 0.0,
    dropout: float = 0.0,
    input_dropout: float = 0.0,
    input_noise: float = 0.0,
    hidden_noise: float = 0.0,
    hidden_units: int = 0,
    width_multiplier: float = 1.0,
    seed: int = 0,
) -> keras.Model:
    """Builds registry model `name`; `batch_norm=False` (the paper's "w/o BatchNorm") only for inception_small;
    `sync_batch_norm` computes batch statistics over the global batch of all replicas of a tf.distribute strategy.
    Table 1's models take Arpit et al.'s regularizers (dropout after each hidden layer, input dropout, Gaussian
    noise on the inputs and on the hidden activations); Inception V3 its dropout before the logits only."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}")
    spec = MODELS[name]
    kwargs = dict(weight_decay=weight_decay, seed=seed)
    if spec.has_batch_norm:
        kwargs.update(batch_norm=batch_norm, bn_momentum=bn_momentum, sync_batch_norm=sync_batch_norm)
    elif not batch_norm:
        raise ValueError(f"--batch_norm applies only to inception_small; {name!r} has no batch norm to remove")
    if hidden_units and spec.width != "units":
        raise ValueError(f"hidden_units applies to the MLPs {WIDTHS['units']}, not {name!r}")
    if width_multiplier != 1.0 and spec.width != "multiplier":
        raise ValueError(f"width_multiplier applies to {WIDTHS['multiplier']}, not {name!r}")
    if hidden_units:
        kwargs.update(width=hidden_units)
    if width_multiplier != 1.0:
        kwargs.update(width_multiplier=width_multiplier)
    if spec.has_noise:
        kwargs.update(noise=Noise(dropout, input_dropout, input_noise, hidden_noise, seed))
    elif input_dropout or input_noise or hidden_noise:
        raise ValueError(f"--input_dropout, --input_noise and --hidden_noise apply to Table 1's models, not {name!r}")
    else:
        kwargs.update(dropout=dropout)
    return spec.build(tuple(input_shape), num_classes, **kwargs)


def paper_name(name: str, batch_norm: bool = True) -> str:
    """The architecture's name in the paper's tables, e.g. "Inception w/o BatchNorm"."""
    return MODELS[name].paper_name + ("" if batch_norm else " w/o BatchNorm")


def paper_param_count(model: keras.Model) -> int:
    """Trainable parameters, the paper's convention (BN offsets count; BN moving statistics do not)."""
    return sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)


def published_param_count(name: str, input_shape, num_classes: int) -> int | None:
    """The paper's parameter count of model `name`, only where the input and classes are the paper's."""
    spec = MODELS[name]
    same = tuple(input_shape) == spec.paper_input and num_classes == spec.paper_classes
    return spec.paper_param_count if same else None
