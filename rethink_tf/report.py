"""`python -m rethink_tf.report NAME DIR`: rebuilds experiment NAME's report (its tables, figures and CSVs) from
the records in DIR alone, without the flags that made them, and prints it.

NAME is one of table1, figure1, figure2, table4, table3, theorem1, rademacher, measures, tune, memorization,
difficulty. DIR is the experiment's results dir, or the preset's (results/laptop) for figure2, table4, memorization
and difficulty, whose runs `make` keeps in DIR/figure2, DIR/table4 and DIR/memorization (measures reads DIR and
DIR/table4).
Nothing is trained.
"""

from __future__ import annotations

import os

from absl import app

from rethink_tf import cli, experiments, records


def report(name: str, results_dir: str) -> str:
    """Experiment `name`'s report from the records in results_dir; UsageError for a bad name or directory."""
    if name not in experiments.NAMES:
        raise cli.UsageError(f"no experiment {name!r}; NAME is one of {', '.join(experiments.NAMES)}")
    if not os.path.isdir(results_dir):
        raise cli.UsageError(f"{results_dir} is not a directory; pass the results dir of the experiment's runs")
    experiment = experiments.get(name)
    if experiment.subdir and os.path.isdir(os.path.join(results_dir, experiment.subdir)):
        results_dir = os.path.join(results_dir, experiment.subdir)
    records.check_results_dir(results_dir)
    return experiment.report(results_dir)


def main(argv: list[str]) -> None:
    with cli.one_line_errors():
        if len(argv) != 3:
            raise cli.UsageError(f"usage: python -m rethink_tf.report NAME DIR (NAME: {', '.join(experiments.NAMES)})")
        text = report(argv[1], argv[2])
    print(text)


if __name__ == "__main__":
    app.run(main, flags_parser=cli.flags_parser(__doc__, ()))
