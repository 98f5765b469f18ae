"""`python -m rethink_tf.experiments.tune`: a keras-tuner search of a preset's learning rate, batch size and
batch-norm momentum for one model and corruption, every trial a regular run (its own run directory and record in
--results_dir).

The objective is what the paper measures of that run: for true labels the final test accuracy (higher is better);
for a randomization test (random labels, corrupted labels or inputs) the optimizer steps until the first epoch at
100% training accuracy (fewer is better; a run that never fits counts one epoch past its budget). keras-tuner's
oracle (Bayesian optimization, or random search) proposes the trials and keeps its state beside the runs, so an
interrupted search continues where it stopped and a trial proposed twice reuses its finished run. Its trials are
tagged in their records (config.tag "tune"), which is how the report finds them. Hyperband is
not offered: it continues a trial at more epochs, and a run's epoch budget is part of what it is. The report,
tune.md and tune.csv, is rebuilt from the runs' records alone.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from rethink_tf import config as config_lib
from rethink_tf import models, records, run_record, runs, tables, train
from rethink_tf.experiments import runner

ORACLES = ("bayesian", "random")
KERAS_TUNER_DIR = "keras_tuner"  # the oracle's state, under the results dir


def fits(config: config_lib.RunConfig) -> bool:
    """Whether a run's objective is its steps to fit (a randomization test) rather than its test accuracy."""
    return config.corruption != "true_labels" or config.corrupt > 0


def objective(record: records.RunRecord) -> float:
    """A finished or diverged trial's objective: test accuracy (true labels), else steps to fit, with a run that
    never fits (or diverged) at one epoch past its budget."""
    final = record.get("final") or {}
    if not fits(record.config):
        return final.get("test_accuracy", 0.0)
    return record.steps_to_fit or record.steps_per_epoch * (record["epoch_budget"]["max_epochs"] + 1)


def trial_config(base: config_lib.RunConfig, learning_rate: float, batch_size: int, bn_momentum: float):
    """The run of one trial: the base with the three values (the learning rate to 3 significant digits, so that
    a value proposed again names the same run), in a run dir named for them."""
    lr = float(f"{learning_rate:.3g}")
    cfg = runs.derive(base, learning_rate=lr, batch_size=batch_size, bn_momentum=bn_momentum, tag=run_record.TUNE_TAG)
    name = f"{config_lib.default_run_name(cfg)}-lr{lr:g}-bs{batch_size}-bnm{bn_momentum:g}"
    return dataclasses.replace(cfg, run_name=name)


def _space(base: config_lib.RunConfig, learning_rates, batch_sizes, bn_momenta):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    low, high = learning_rates
    hp.Float("learning_rate", low, high, sampling="log")
    hp.Choice("batch_size", list(batch_sizes))
    if base.batch_norm and models.MODELS[base.model].has_batch_norm:
        hp.Choice("bn_momentum", list(bn_momenta))
    else:
        hp.Fixed("bn_momentum", base.bn_momentum)  # no batch norm: nothing to tune
    return hp


def make_oracle(base: config_lib.RunConfig, goal, oracle: str, max_trials: int, hp):
    """keras-tuner's oracle, seeded from the run seed so that the same flags propose the same trials (keras-tuner
    reads a seed of 0 as "none" and draws one at random, hence seed + 1)."""
    import keras_tuner

    common = {"objective": goal, "max_trials": max_trials, "hyperparameters": hp, "seed": base.seed + 1}
    if oracle == "bayesian":  # a third of the trials random, the rest proposed by the Gaussian process
        return keras_tuner.oracles.BayesianOptimizationOracle(num_initial_points=max(2, max_trials // 3), **common)
    return keras_tuner.oracles.RandomSearchOracle(**common)


def search(
    base: config_lib.RunConfig,
    raw,
    oracle: str = "bayesian",
    max_trials: int = 10,
    learning_rates: tuple[float, ...] = (0.001, 0.3),
    batch_sizes: tuple[int, ...] = (32, 64, 128),
    bn_momenta: tuple[float, ...] = (0.9, 0.99),
) -> None:
    """Runs the search's trials that have no result yet (keras-tuner reloads its state from the results dir)."""
    import keras_tuner

    if len(learning_rates) != 2 or not 0 < learning_rates[0] < learning_rates[1]:
        raise config_lib.ConfigError(
            f"--learning_rates={','.join(map(str, learning_rates))} is not allowed: the lowest and the highest "
            "learning rate of the search, 0 < low < high (e.g. --learning_rates=0.001 --learning_rates=0.3)"
        )
    goal = keras_tuner.Objective("steps_to_fit", "min") if fits(base) else keras_tuner.Objective("test_accuracy", "max")
    the_oracle = make_oracle(base, goal, oracle, max_trials, _space(base, learning_rates, batch_sizes, bn_momenta))

    class RunTuner(keras_tuner.engine.base_tuner.BaseTuner):
        """A keras-tuner worker whose trial is one rethink_tf run; its objective read from the run's record."""

        def run_trial(self, trial, *args, **kwargs) -> float:
            v = trial.hyperparameters.values
            cfg = trial_config(base, v["learning_rate"], v["batch_size"], v["bn_momentum"])
            label = f"[trial {trial.trial_id} lr {cfg.learning_rate:g} batch {cfg.batch_size} bn {cfg.bn_momentum:g}]"
            record = train.run(cfg, raw=raw, progress=label)
            print(f"{label} {train.summary(record)}; {goal.name} {objective(record):g}", flush=True)
            return objective(record)

    project = f"{config_lib.model_key(base.model, base.batch_norm)}-{base.corruption}-p{base.corrupt:g}-{oracle}"
    tuner = RunTuner(the_oracle, directory=os.path.join(base.results_dir, KERAS_TUNER_DIR), project_name=project)
    tuner.search(verbose=0)
    failed = [t.trial_id for t in the_oracle.trials.values() if t.status in ("FAILED", "INVALID")]
    if failed:
        raise RuntimeError(
            f"trials {', '.join(failed)} raised (keras-tuner's messages in {tuner.project_dir}/trial_*/trial.json)"
        )


def rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trial run with a result, best first within each (model, corruption)."""
    out = []
    for r in recs:
        if not r.done or r.config.tag != run_record.TUNE_TAG:
            continue
        c, final = r.config, r.get("final") or {}
        out.append(
            {
                "model": models.paper_name(c.model, c.batch_norm),
                "corruption": c.corruption + (f" p={c.corrupt:g}" if c.corrupt else ""),
                "objective": "steps to fit" if fits(c) else "test accuracy",
                "value": objective(r),
                "learning_rate": c.learning_rate,
                "batch_size": c.batch_size,
                "bn_momentum": c.bn_momentum,
                "test_accuracy": final.get("test_accuracy"),
                "fit_epoch": r.fit_epoch,
                "steps_to_fit": r.steps_to_fit,
                "wall_time_s": r["wall_time_s"],
                "run_name": r["run_name"],
            }
        )
    out.sort(
        key=lambda row: (
            row["model"],
            row["corruption"],
            row["value"] * (1 if row["objective"] == "steps to fit" else -1),
        )
    )
    return out


def report(results_dir: str) -> str:
    """tune.md and tune.csv: every trial with a result, the best of each search first, and the training time."""
    recs = records.load_all(results_dir)
    table = rows(recs)
    cells = [
        [
            r["model"],
            r["corruption"],
            f"{r['learning_rate']:g}",
            r["batch_size"],
            f"{r['bn_momentum']:g}",
            tables.fmt(None if r["test_accuracy"] is None else 100 * r["test_accuracy"]),
            r["fit_epoch"] or "not fit",
            r["steps_to_fit"] or "–",
            f"{r['wall_time_s']:.0f}",
        ]
        for r in table
    ]
    header = ["model", "labels", "lr", "batch", "bn momentum", "test %", "fit epoch", "steps to fit", "wall s"]
    minutes = sum(r["wall_time_s"] for r in table) / 60
    text = (
        tables.markdown(header, cells, "llrrrrrrr")
        + f"\n{len(table)} trials, {minutes:.1f} min of training; best first "
        "(objective: test accuracy for true labels, steps to fit for a randomization test).\n"
    )
    return tables.write(results_dir, "tune", text, table, runs=recs)


@dataclasses.dataclass(frozen=True)
class Options:
    """The search's own flags (rethink_tf.cli.define_options), the keyword arguments of search."""

    oracle: str = config_lib.setting(
        "bayesian", "Tune: keras-tuner's oracle, Bayesian optimization or random search.", choices=ORACLES
    )
    max_trials: int = config_lib.setting(10, "Tune: trials (runs) of the search.", lower_bound=1)
    learning_rates: tuple[float, ...] = config_lib.setting(
        (0.001, 0.3),
        "Tune: the lowest and the highest learning rate searched (log scale; give the flag twice).",
        lower_bound=0.0,
    )
    batch_sizes: tuple[int, ...] = config_lib.setting((32, 64, 128), "Tune: the batch sizes searched.", lower_bound=1)
    bn_momenta: tuple[float, ...] = config_lib.setting(
        (0.9, 0.99),
        "Tune: the batch-norm momenta searched (models with batch norm).",
        lower_bound=0.0,
        upper_bound=0.999,
    )


EXPERIMENT = runner.Experiment("tune", report, compute=search, options=Options)

if __name__ == "__main__":
    runner.main(EXPERIMENT, __doc__)
