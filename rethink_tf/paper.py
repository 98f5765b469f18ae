"""The paper's published numbers, as data (Zhang et al. 2017; see shared PAPER.md)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Table1Row:
    """One row of Table 1: a model and its explicit regularizers, with the paper's accuracies (%)."""

    model: str
    batch_norm: bool
    random_crop: bool
    weight_decay: bool
    random_labels: bool
    train_accuracy: float
    test_accuracy: float

    @property
    def label(self) -> str:
        from rethink_tf import models

        name = models.paper_name(self.model, self.batch_norm)
        if self.random_labels:
            return f"{name}, random labels"
        regularizers = [r for r, on in (("crop", self.random_crop), ("wd", self.weight_decay)) if on]
        return f"{name}, {'+'.join(regularizers) or 'none'}"


def _rows(model, batch_norm, numbers):
    return [Table1Row(model, batch_norm, crop, wd, rl, train, test) for (crop, wd, rl), (train, test) in numbers]


_CROP_WD, _CROP, _WD, _NONE, _RANDOM = (
    (True, True, False),
    (True, False, False),
    (False, True, False),
    (False, False, False),
    (False, False, True),
)

# CIFAR-10 train / test accuracy (%), Table 1 (19 runs).
TABLE1: tuple[Table1Row, ...] = tuple(
    _rows(
        "inception_small",
        True,
        [
            (_CROP_WD, (100.0, 89.05)),
            (_CROP, (100.0, 89.31)),
            (_WD, (100.0, 86.03)),
            (_NONE, (100.0, 85.75)),
            (_RANDOM, (100.0, 9.78)),
        ],
    )
    + _rows("inception_small", False, [(_WD, (100.0, 83.00)), (_NONE, (100.0, 82.00)), (_RANDOM, (100.0, 10.12))])
    + _rows(
        "alexnet_small",
        True,
        [
            (_CROP_WD, (99.90, 81.22)),
            (_CROP, (99.82, 79.66)),
            (_WD, (100.0, 77.36)),
            (_NONE, (100.0, 76.07)),
            (_RANDOM, (99.82, 9.86)),
        ],
    )
    + _rows("mlp_3x512", True, [(_WD, (100.0, 53.35)), (_NONE, (100.0, 52.39)), (_RANDOM, (100.0, 10.48))])
    + _rows("mlp_1x512", True, [(_WD, (99.80, 50.39)), (_NONE, (100.0, 50.51)), (_RANDOM, (99.34, 10.61))])
)

# Table 3 / Section 5: test error (%) of the minimum-norm kernel interpolant (dataset, features, l2) -> error.
TABLE3: dict[tuple[str, str, bool], float] = {
    ("mnist", "pixels", False): 1.2,
    ("mnist", "gabor", False): 0.6,
    ("cifar10", "pixels", False): 46.0,
    ("cifar10", "random_conv", False): 17.0,
    ("cifar10", "random_conv", True): 15.0,
}

# Figure 1a (Inception, CIFAR-10): the first step at which the average training loss is below 0.01, read
# off the plot, per corruption.
FIGURE1A_STEPS_BELOW_LOSS_001: dict[str, float] = {
    "true_labels": 4_700,
    "shuffled_pixels": 6_300,
    "gaussian": 8_600,
    "random_pixels": 9_400,
    "random_labels": 14_500,
}
# Figure 1b: time to overfit at p = 1 relative to p = 0; Figure 1c: test error at p = 0 (at p = 1 about 0.90).
FIGURE1B_SLOWDOWN_AT_P1: dict[str, float] = {"inception_small": 3.6, "alexnet_small": 1.55, "mlp_1x512": 1.96}
FIGURE1C_TEST_ERROR_AT_P0: dict[str, float] = {"inception_small": 0.128, "alexnet_small": 0.301, "mlp_1x512": 0.495}
FIGURE1C_TEST_ERROR_AT_P1 = 0.90


@dataclasses.dataclass(frozen=True)
class Table4Row:
    """One row of Table 4: a model trained on random labels with one explicit regularizer, and the paper's
    training accuracy (%; None: "failed to converge")."""

    model: str
    regularizer: str  # "weight_decay", "random_crop" or "augment"
    train_accuracy: float | None

    @property
    def label(self) -> str:
        from rethink_tf import models

        name = {
            "weight_decay": "weight decay",
            "random_crop": "random crop",
            "augment": "augmentation (flip, rotation)",
        }[self.regularizer]
        return f"{models.paper_name(self.model, True)} + {name}"


# Random labels with regularizers, CIFAR-10 training accuracy (%). The crop and augmentation rows decay the
# learning rate by 0.999 per epoch instead of 0.95.
TABLE4: tuple[Table4Row, ...] = (
    Table4Row("inception_small", "weight_decay", 100.0),
    Table4Row("alexnet_small", "weight_decay", None),
    Table4Row("mlp_3x512", "weight_decay", 100.0),
    Table4Row("mlp_1x512", "weight_decay", 99.21),
    Table4Row("inception_small", "random_crop", 99.93),
    Table4Row("inception_small", "augment", 99.28),
)
TABLE4_SLOW_LR_DECAY = 0.999


@dataclasses.dataclass(frozen=True)
class Table2Row:
    """One row of Table 2 (Inception V3 on ImageNet, 299x299 inputs): its regularizers and labels, and the
    paper's top-1 / top-5 accuracies (%); best_*: the best test accuracy of any epoch, where the paper gives it."""

    augment: bool
    dropout: bool
    weight_decay: bool
    random_labels: bool
    top1_train: float
    top5_train: float
    top1_test: float
    top5_test: float
    best_top1_test: float | None = None
    best_top5_test: float | None = None

    @property
    def label(self) -> str:
        on = [name for name, on in (("aug", self.augment), ("dropout", self.dropout), ("wd", self.weight_decay)) if on]
        return f"{'+'.join(on) or 'none'}, {'random' if self.random_labels else 'true'} labels"


TABLE2: tuple[Table2Row, ...] = (
    Table2Row(True, True, True, False, 92.18, 99.21, 77.84, 93.92),
    Table2Row(True, False, False, False, 92.33, 99.17, 72.95, 90.43),
    Table2Row(False, False, True, False, 90.60, 100.0, 67.18, 86.44, 72.57, 91.31),
    Table2Row(False, False, False, False, 99.53, 100.0, 59.80, 80.38, 63.16, 84.49),
    Table2Row(False, True, True, True, 91.18, 97.95, 0.09, 0.49),
    Table2Row(False, False, True, True, 87.81, 96.15, 0.12, 0.50),
    Table2Row(False, False, False, True, 95.20, 99.14, 0.11, 0.56),
)
# The paper's input side for Table 2 (the standard TensorFlow Inception preprocessing's 299x299).
TABLE2_INPUT = 299
