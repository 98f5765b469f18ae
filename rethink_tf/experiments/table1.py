"""Table 1 as a grid of RunConfigs: five architectures x {random crop, weight decay} x {true, random labels}.

`python -m rethink_tf.experiments.table1 --preset=laptop --results_dir=results/laptop` runs every row
that has no finished record yet (so an interrupted grid continues where it stopped), then writes the
report. Rows differ from the preset's base config only in the fields the paper's table varies.
"""

from __future__ import annotations

import dataclasses

from absl import app, logging

from rethink_tf import cli
from rethink_tf import config as config_lib
from rethink_tf import models, paper, report
from rethink_tf.experiments import grid as experiment_grid


def row_config(base: config_lib.RunConfig, row: paper.Table1Row,
               learning_rate: float | None = None) -> config_lib.RunConfig:
    """The run of one Table 1 row: the model's own weight decay and learning rate (unless
    `learning_rate` sets one for every row), no other change."""
    spec = models.MODELS[row.model]
    return dataclasses.replace(
        base, model=row.model, batch_norm=row.batch_norm, random_crop=row.random_crop,
        weight_decay=spec.default_weight_decay if row.weight_decay else 0.0,
        corruption="random_labels" if row.random_labels else "true_labels", corrupt=0.0,
        learning_rate=learning_rate or spec.default_learning_rate, run_name="").validate()


def grid(base: config_lib.RunConfig, learning_rate: float | None = None, random_label_seeds: int = 1,
         single_seed_models: tuple[str, ...] = ()) -> list[tuple[paper.Table1Row, config_lib.RunConfig]]:
    """The grid's runs in the paper's row order; a random-label row runs with seeds --seed, --seed + 1, ...
    (`random_label_seeds` of them) unless its architecture is in `single_seed_models`, any other row once."""
    runs = []
    for row in paper.TABLE1:
        cfg = row_config(base, row, learning_rate)
        repeat = row.random_labels and config_lib.model_key(row.model, row.batch_norm) not in single_seed_models
        seeds = range(base.seed, base.seed + (random_label_seeds if repeat else 1))
        runs += [(row, dataclasses.replace(cfg, seed=seed)) for seed in seeds]
    return runs


def run(base: config_lib.RunConfig, learning_rate: float | None = None, random_label_seeds: int = 1,
        single_seed_models: tuple[str, ...] = ()) -> list[dict]:
    """Runs the grid's runs without a finished (or diverged) record, in the paper's order, and returns every
    run's record (None for one another worker has only just claimed). Runs another live process trains are
    left to it, so several workers (`make reproduce-table1` started more than once on one results
    directory) share the grid."""
    rows = grid(base, learning_rate, random_label_seeds, single_seed_models)
    labelled = []
    for row, cfg in rows:
        seed = f", seed {cfg.seed}" if random_label_seeds > 1 and row.random_labels else ""
        labelled.append((f"[row {paper.TABLE1.index(row) + 1}/{len(paper.TABLE1)} {row.label}{seed}]", cfg))
    return experiment_grid.run(labelled)


def main(argv: list[str]) -> None:
    with cli.one_line_errors():
        base = cli.run_config(argv)
        # learning_rate is None unless the command line or the preset sets it
        run(base, learning_rate=cli.FLAGS.learning_rate, random_label_seeds=cli.FLAGS.random_label_seeds,
            single_seed_models=tuple(cli.FLAGS.single_seed_models))
    print(report.write_table1(base.results_dir))


if __name__ == "__main__":
    config_lib.define_flags()
    logging.set_verbosity(logging.WARNING)
    app.run(main, flags_parser=cli.parse_flags)
