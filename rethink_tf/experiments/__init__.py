"""The paper's experiments, one module each, every one of the shape rethink_tf.experiments.runner.Experiment."""

import importlib

NAMES = (
    "table1",
    "figure1",
    "figure2",
    "table2",
    "table4",
    "table3",
    "theorem1",
    "rademacher",
    "measures",
    "tune",
    "memorization",
    "difficulty",
    "regularizers",
    "csr_noise",
    "double_descent",
    "scaling",
)


def get(name: str):
    """The Experiment of rethink_tf/experiments/<name>.py."""
    if name not in NAMES:
        raise ValueError(f"no experiment {name!r}; one of {', '.join(NAMES)}")
    return importlib.import_module(f"rethink_tf.experiments.{name}").EXPERIMENT
