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


_CROP_WD, _CROP, _WD, _NONE, _RANDOM = (True, True, False), (True, False, False), (False, True, False), \
    (False, False, False), (False, False, True)

# CIFAR-10 train / test accuracy (%), Table 1 (19 runs).
TABLE1: tuple[Table1Row, ...] = tuple(
    _rows("inception_small", True, [(_CROP_WD, (100.0, 89.05)), (_CROP, (100.0, 89.31)), (_WD, (100.0, 86.03)),
                                    (_NONE, (100.0, 85.75)), (_RANDOM, (100.0, 9.78))])
    + _rows("inception_small", False, [(_WD, (100.0, 83.00)), (_NONE, (100.0, 82.00)), (_RANDOM, (100.0, 10.12))])
    + _rows("alexnet_small", True, [(_CROP_WD, (99.90, 81.22)), (_CROP, (99.82, 79.66)), (_WD, (100.0, 77.36)),
                                    (_NONE, (100.0, 76.07)), (_RANDOM, (99.82, 9.86))])
    + _rows("mlp_3x512", True, [(_WD, (100.0, 53.35)), (_NONE, (100.0, 52.39)), (_RANDOM, (100.0, 10.48))])
    + _rows("mlp_1x512", True, [(_WD, (99.80, 50.39)), (_NONE, (100.0, 50.51)), (_RANDOM, (99.34, 10.61))])
)

# Table 3 / Section 5: test error (%) of the minimum-norm kernel interpolant (dataset, features, l2) -> error.
TABLE3: dict[tuple[str, str, bool], float] = {
    ("mnist", "pixels", False): 1.2, ("mnist", "gabor", False): 0.6,
    ("cifar10", "pixels", False): 46.0, ("cifar10", "random_conv", False): 17.0, ("cifar10", "random_conv", True): 15.0,
}
