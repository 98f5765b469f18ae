"""Generalization measures of runs: into each finished run's record and TensorBoard, added later without
retraining, and the measures experiment's grid and report from records."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, Events, tiny_config, tiny_raw

from rethink_tf import config, measures, records, run_measures, run_record, summaries, train
from rethink_tf.experiments import figure1, table1, table4
from rethink_tf.experiments import measures as measures_experiment
from rethink_tf.version import __version__


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_a_finished_run_gets_its_measures_into_its_record_and_tensorboard_without_retraining(tmp_path):
    raw = tiny_raw()
    cfg = tiny_config(tmp_path, epochs=3, measures=False)
    first = train.run(cfg, raw=raw)
    assert first["status"] == records.FINISHED and "measures" not in first
    weights = file_bytes(os.path.join(cfg.run_dir, records.WEIGHTS))
    # The next pass with measures on: the same epochs and weights, the measures added.
    again = train.run(dataclasses.replace(cfg, measures=True), raw=raw)
    assert again["epochs"] == first["epochs"] and again["final"] == first["final"]
    assert file_bytes(os.path.join(cfg.run_dir, records.WEIGHTS)) == weights
    values = again["measures"]["values"]
    assert set(values) == set(measures.MEASURES)
    assert values["param_count"] == again.param_count
    assert values["distance_from_init"] > 0 and all(np.isfinite(v) for k, v in values.items() if "margin" not in k)
    assert again["measures"]["settings"]["train_examples"] == len(raw.train.labels)
    assert records.read_record(cfg.run_dir)["measures"] == json.loads(json.dumps(again["measures"]))
    # TensorBoard: every measure a declared metric of the HParams session, its value the record's.
    events = Events(cfg.run_dir)
    declared = {m.name.tag for m in events.experiment().metric_infos}
    assert {tag for tag, _ in summaries.MEASURE_METRICS.values()} <= declared
    for key, (tag, _) in summaries.MEASURE_METRICS.items():
        ((_, shown),) = events.series(tag)
        assert shown == pytest.approx(values[key], rel=1e-6)
    assert [step for step, _ in events.series(summaries.EPOCH_TAGS["accuracy"][0])] == [1, 2, 3]  # logged once
    # Measures are a function of the run dir: computed again in a fresh process, the same numbers.
    record = records.read_record(cfg.run_dir)
    del record["measures"]
    records.save(cfg, record)
    code = (
        "import json, sys; from rethink_tf import config, train; from conftest import tiny_raw; "
        "c = config.RunConfig(**json.loads(sys.argv[1])); "
        "print(train.run(c, raw=tiny_raw())['measures']['values']['sharpness'])"
    )
    args = [sys.executable, "-c", code, json.dumps(dataclasses.asdict(dataclasses.replace(cfg, measures=True)))]
    env = {**os.environ, "PYTHONPATH": os.path.join(REPO, "tests")}
    out = subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=env, check=True)
    assert float(out.stdout.split()[-1]) == values["sharpness"]
    assert records.read_record(cfg.run_dir)["measures"]["values"] == values


def test_a_run_with_measures_off_and_a_diverged_run_get_none(tmp_path):
    raw = tiny_raw()
    record = train.run(tiny_config(tmp_path, epochs=1, measures=False), raw=raw)
    assert "measures" not in record
    diverged = train.run(tiny_config(tmp_path, epochs=1, learning_rate=1e9, run_name="diverged"), raw=raw)
    assert diverged["status"] == records.DIVERGED and "measures" not in diverged


def test_measures_do_not_tell_runs_apart():
    a, b = config.RunConfig(), config.RunConfig(measures=False)
    assert a.experiment() == b.experiment() and a.run_dir == b.run_dir


def test_the_grid_is_table1_figure1_and_table4_once_each_with_measures_on(tmp_path):
    base = config.RunConfig(results_dir=str(tmp_path), measures=False, learning_rate=0.01)
    runs = measures_experiment.grid(base, random_label_seeds=2, corrupt_levels=(0.0, 0.5, 1.0))
    dirs = [cfg.run_dir for _, cfg in runs]
    assert len(dirs) == len(set(dirs)) and all(cfg.measures for _, cfg in runs)
    wanted = {cfg.run_dir for _, cfg in table1.labelled_runs(base, 2)}
    wanted |= {cfg.run_dir for _, cfg in figure1.grid(base, (0.0, 0.5, 1.0))}
    wanted |= {cfg.run_dir for _, cfg in table4.grid(dataclasses.replace(base, results_dir=str(tmp_path / "table4")))}
    assert set(dirs) == wanted
    assert sum(os.path.dirname(d) == str(tmp_path / "table4") for d in dirs) == len(table4.grid(base))


def fake(model="mlp_1x512", p=0.0, wd=0.0, crop=False, seed=0, gap=0.1, **values):
    """A finished record of the fields the report reads."""
    c = dataclasses.asdict(config.RunConfig(model=model, corrupt=p, weight_decay=wd, random_crop=crop, seed=seed))
    return run_record.RunRecord(
        status=records.FINISHED,
        config=c,
        final={"generalization_gap": gap},
        measures={"values": {k: values.get(k, 0.0) for k in measures.MEASURES}},
    )


def test_measures_of_0_5_are_read_in_todays_names_and_computed_again():
    old = fake(gap=0.3)
    old["format"] = run_record.FORMAT
    old["measures"] = {
        "version": "0.5.0",
        "values": {
            "frobenius_sum": 13.0,
            "log_frobenius_product": 3.0,
            "log_spectral_product": 1.0,
            "output_margin": -0.5,  # over 10% of the training set misclassified: 0.5 recorded inf over the margin
            "log_spectral_over_margin": float("inf"),
            "log_frobenius_over_margin": float("inf"),
            "sharpness": 400.0,
            "magnitude_sharpness": 7.0,
        },
    }
    record = run_record.upgrade(json.loads(json.dumps(old)))
    values = record["measures"]["values"]
    assert values["param_norm"] == 13.0 and "frobenius_sum" not in values  # 0.5's name of Jiang et al.'s param norm
    assert values["inverse_margin"] == 4.0  # 1 / gamma^2
    assert values["log_spectral_over_margin"] == pytest.approx(1.0 - 2 * np.log(0.5))
    assert values["log_frobenius_over_margin"] == pytest.approx(3.0 - 2 * np.log(0.5))
    assert values["sharpness"] == 400.0  # the same definition (a search of fewer draws)
    assert "magnitude_sharpness" not in values and record["measures"]["superseded"] == {"magnitude_sharpness": 7.0}
    assert "log_sum_of_frobenius" not in values  # 0.5 recorded no layer count
    assert not record.measures_current and run_measures.lacking(config.RunConfig(), record)  # computed again
    # The report ranks what it can read beside runs measured today.
    new = fake(gap=0.1, **{key: 1.0 for key in measures.MEASURES})
    new["measures"]["version"] = __version__
    rows = {r["measure"]: r for r in measures_experiment.table([record, new])}
    assert rows["param_norm"]["tau"] == 1.0 and np.isnan(rows["log_sum_of_frobenius"]["tau"])
    current = run_record.upgrade(json.loads(json.dumps({**new, "format": run_record.FORMAT})))
    assert current.measures_current and current["measures"] == new["measures"]


def test_granulated_tau_averages_over_the_groups_that_vary_one_axis():
    recs = [
        # weight decay off: the measure ranks the gap along p (tau +1)
        fake(p=0.0, gap=0.1, log_path_norm=1.0),
        fake(p=0.5, gap=0.3, log_path_norm=2.0),
        fake(p=1.0, gap=0.9, log_path_norm=3.0),
        # weight decay on: the measure ranks it backwards along p (tau -1)
        fake(p=0.0, wd=1e-4, gap=0.2, log_path_norm=3.0),
        fake(p=1.0, wd=1e-4, gap=0.8, log_path_norm=1.0),
        # another model at p = 0 alone: no group along p
        fake(model="alexnet_small", gap=0.2, log_path_norm=5.0),
    ]
    assert measures_experiment.granulated_tau(recs, "log_path_norm", "p") == (0.0, 2)  # the mean of +1 and -1
    # Along weight decay: at p = 0 gap 0.1 -> 0.2 with the norm 1 -> 3 (+1), at p = 1 0.9 -> 0.8 with 3 -> 1 (+1).
    assert measures_experiment.granulated_tau(recs, "log_path_norm", "weight decay") == (1.0, 2)
    assert measures_experiment.granulated_tau(recs, "log_path_norm", "random crop") == (
        pytest.approx(float("nan"), nan_ok=True),
        0,
    )
    # The margin is a complexity negated: a larger margin with a smaller gap is a positive tau.
    for r, margin in zip(recs[:3], (3.0, 2.0, 1.0)):
        r["measures"]["values"]["output_margin"] = margin
    assert measures_experiment.granulated_tau(recs[:3], "output_margin", "p") == (1.0, 1)


def test_the_report_ranks_recorded_measures_and_draws_them_against_p(tmp_path):
    raw = tiny_raw()
    for p in (0.0, 0.5, 1.0):
        train.run(tiny_config(tmp_path, epochs=3, corrupt=p, measures=True), raw=raw)
    text = measures_experiment.report(str(tmp_path))
    recs = records.load_all(str(tmp_path))
    gaps = [r["final"]["generalization_gap"] for r in recs]
    assert len(recs) == 3 and "3 finished runs with measures" in text
    rows = {r["measure"]: r for r in measures_experiment.table(recs)}
    for key, (_, sign) in measures.MEASURES.items():
        assert rows[key]["tau"] == pytest.approx(
            measures.kendall_tau([sign * r["measures"]["values"][key] for r in recs], gaps), nan_ok=True
        )
    assert rows["param_count"]["tau"] == 0.0  # one architecture: every pair tied, Jiang et al.'s tau-a is 0
    assert rows["log_path_norm"]["groups p"] == 1
    for name in ("measures.md", "measures.csv", "measures.png", "measures-series.csv"):
        assert os.path.getsize(tmp_path / name) > 0
    out = subprocess.run(
        [sys.executable, "-m", "rethink_tf.report", "measures", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert out.stdout.strip() == text.strip()
