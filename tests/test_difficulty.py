"""Arpit et al.'s per-example difficulty test: the dispersion test (rethink_tf.dispersion) on counts with known
answers, the difficulty experiment's runs, and its report from records and ledgers (synthetic, then real runs)."""

import csv
import dataclasses
import math
import os

import numpy as np
import pytest
from conftest import needs_data, smoke_base

from rethink_tf import dispersion, ledger, records
from rethink_tf.config import ConfigError
from rethink_tf.errors import BadInput
from rethink_tf.experiments import difficulty, runner

K = 10


def test_binomial_counts_have_ratio_near_one_and_a_p_value_that_is_not_tiny():
    rng = np.random.default_rng(0)
    wrong = rng.random((20, 2000)) < 0.3  # every example equally hard: each count Binomial(20, 0.3)
    t = dispersion.test(wrong)
    assert (t.runs, t.examples, t.dof) == (20, 2000, 1999)
    assert t.rate == pytest.approx(wrong.mean())
    assert abs(t.ratio - 1) < 0.1 and t.p_over > 1e-3 and t.p_under > 1e-3
    assert t.p_over + t.p_under == pytest.approx(1.0)
    assert difficulty.verdict(t) == "binomial"


def test_the_p_value_is_calibrated_under_the_binomial():
    # Under the null p_over is about uniform: 400 replications put about 5% of them below 0.05.
    rng = np.random.default_rng(1)
    ps = [dispersion.test(rng.random((10, 300)) < 0.4).p_over for _ in range(400)]
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.09
    assert 0.4 < np.median(ps) < 0.6


def test_always_wrong_and_always_right_examples_are_over_dispersed_by_the_formula():
    # Half the examples wrong in every run, half in none: q = 1/2, every |c - S q| = S/2, so X = N S and
    # X / (N - 1) = N S / (N - 1).
    runs, n = 12, 500
    wrong = np.zeros((runs, n), bool)
    wrong[:, : n // 2] = True
    t = dispersion.test(wrong)
    assert t.rate == 0.5 and t.statistic == pytest.approx(n * runs)
    assert t.ratio == pytest.approx(n * runs / (n - 1)) and t.p_over < 1e-300
    assert (t.always_wrong, t.never_wrong) == (0.5, 0.5)
    assert t.expected_always_wrong == t.expected_never_wrong == pytest.approx(0.5**runs)
    assert difficulty.verdict(t) == "over-dispersed"


def test_identical_runs_are_under_dispersed():
    # Each example wrong in exactly half of the runs: every count equals S q, so X = 0 (less spread than any
    # binomial).
    wrong = np.tile([[True], [False]], (5, 300))
    t = dispersion.test(wrong)
    assert t.rate == 0.5 and t.statistic == 0 and t.p_under < 1e-300
    assert difficulty.verdict(t) == "under-dispersed"


def test_runs_that_predict_one_class_each_are_no_example_level_difficulty():
    # Each run predicts one class for every input: examples of a class are right or wrong together. The chi-square
    # reading calls that far from binomial; shuffled within each class nothing changes, so the exact test does not.
    # Here 10 runs predict class 0 and 10 class 1: those classes' examples are right in 10 runs, the others in none.
    labels = np.arange(1000) % K
    wrong = labels[None, :] != np.repeat([0, 1], 10)[:, None]
    chi2, shuffled = dispersion.test(wrong), dispersion.permutation_test(wrong, labels, draws=99)
    assert chi2.p_over < 1e-10 and difficulty.verdict(chi2) == "over-dispersed"
    assert shuffled.null_ratio == pytest.approx(chi2.ratio) and shuffled.p_over == shuffled.p_under == 1.0
    assert difficulty.verdict(shuffled) == "binomial"


def test_the_permutation_test_finds_hard_examples_within_a_class_and_repeats_itself():
    rng = np.random.default_rng(4)
    labels = np.arange(600) % K
    # Class 0 is hard for every run (all wrong), every other class right with probability 0.8, as a binomial would.
    by_class = rng.random((15, 600)) < 0.2
    by_class[:, labels == 0] = True
    plain = dispersion.permutation_test(by_class, labels, draws=199)
    assert 0.01 < plain.p_over and 0.01 < plain.p_under  # a hard class is not a hard example
    assert dispersion.test(by_class).p_over < 1e-10  # though the chi-square reading says over-dispersed
    # Now 30 examples of class 1 are wrong in every run besides.
    hard = by_class.copy()
    hard[:, np.flatnonzero(labels == 1)[:30]] = True
    found = dispersion.permutation_test(hard, labels, draws=199)
    assert found.p_over == pytest.approx(1 / 200) and difficulty.verdict(found) == "over-dispersed"
    assert dispersion.permutation_test(hard, labels, draws=199) == found  # seeded: the same draws
    # Binomial counts: the draws' mean ratio is about 1 and p is not small.
    iid = dispersion.permutation_test(rng.random((15, 600)) < 0.3, labels, draws=199)
    assert abs(iid.null_ratio - 1) < 0.05 and iid.p_over > 0.01 and iid.p_under > 0.01
    with pytest.raises(BadInput, match="one group per example"):
        dispersion.permutation_test(hard, labels[:10])


def test_expected_histogram_is_the_binomials():
    h = dispersion.expected_histogram(1000, 8, 0.25)
    by_hand = [1000 * math.comb(8, k) * 0.25**k * 0.75 ** (8 - k) for k in range(9)]
    assert h == pytest.approx(by_hand) and h.sum() == pytest.approx(1000)
    assert (np.arange(9) * h).sum() == pytest.approx(1000 * 8 * 0.25)
    assert dispersion.histogram(np.array([0, 3, 3, 8]), 8).tolist() == [1, 0, 0, 2, 0, 0, 0, 0, 1]


def test_every_example_alike_leaves_nothing_to_test():
    t = dispersion.test(np.zeros((4, 10), bool))
    assert t.rate == 0 and math.isnan(t.ratio) and math.isnan(t.p_over) and t.never_wrong == 1
    assert difficulty.verdict(t) == "no test (every example alike)" and difficulty.p_text(t.p_over) == "–"


@pytest.mark.parametrize(
    "wrong, says",
    [
        (np.zeros(10, bool), "matrix"),
        (np.zeros((1, 10), bool), "at least 2 runs"),
        (np.full((3, 10), 2), "booleans"),
        (np.full((3, 10), 0.5), "booleans"),
    ],
)
def test_bad_indicators_are_one_line_errors(wrong, says):
    with pytest.raises(BadInput, match=says) as got:
        dispersion.test(wrong)
    assert "\n" not in str(got.value)


def test_grid_is_one_epoch_per_run_seed_with_the_ledger_and_nothing_else(tmp_path):
    base = smoke_base(tmp_path)
    runs = difficulty.grid(
        base, difficulty_runs=3, difficulty_train_size=100, difficulty_conditions=("true_labels", "random_labels")
    )
    assert len(runs) == 3 * 2 * 2
    assert runs[0][0] == "[difficulty 1/12 MLP 1x512, true labels, run 1/3]"
    cfgs = [cfg for _, cfg in runs]
    assert len({c.run_dir for c in cfgs}) == 12 and all(c.run_name.startswith("difficulty-n100-") for c in cfgs)
    for c in cfgs:
        assert (c.max_epochs, c.train_size, c.train_fraction, c.corrupt, c.seed) == (1, 100, 1.0, 0.0, base.seed)
        assert c.ledger and not (c.save_weights or c.measures or c.stop_when_fit or c.regularizers)
        assert c.tag == difficulty.TAG and c.test_size == min(base.test_size, difficulty.TEST_SIZE)
    assert sorted({c.run_seed for c in cfgs}) == [1, 2, 3]
    # The runs of one cell differ in their run seed alone.
    cell = [c for c in cfgs if c.model == "alexnet_small" and c.corruption == "random_labels"]
    assert len({dataclasses.replace(c, run_seed=0, run_name="") for c in cell}) == 1
    # The laptop preset's 150-epoch random-label budget does not apply: one epoch.
    laptop_like = dataclasses.replace(base, random_label_epochs=150, test_size=0)
    one = difficulty.run_config(laptop_like, "mlp_1x512", "random_labels", 1)
    assert one.max_epochs == 1 and one.test_size == difficulty.TEST_SIZE


@pytest.mark.parametrize(
    "options, says",
    [({"difficulty_runs": 1}, "at least 2 runs"), ({"difficulty_conditions": ("noise",)}, "no condition noise")],
)
def test_grid_refuses_what_cannot_test(tmp_path, options, says):
    with pytest.raises(ConfigError, match=says):
        difficulty.grid(smoke_base(tmp_path), **options)


def logits_for(labels, correct):
    """Logits [N, K] whose argmax is each label where `correct`, the next class where not."""
    out = np.zeros((len(labels), K), np.float32)
    out[np.arange(len(labels)), np.where(correct, labels, (labels + 1) % K)] = 5.0
    return out


def fake_run(cfg, wrong, labels, true_labels=None, wall_s=2.0):
    """A finished run's record and ledger: one epoch, training examples wrong where `wrong` (an earlier row of
    all-right first, so the report must read the last row)."""
    n = len(labels)
    true_labels = labels if true_labels is None else true_labels
    os.makedirs(cfg.run_dir, exist_ok=True)
    final = dict(
        train_accuracy=1 - wrong.mean(),
        train_loss=1.0,
        test_accuracy=0.5,
        test_loss=1.0,
        generalization_gap=0.0,
        epochs_run=1,
    )
    rec = records.new_record(
        cfg,
        status=records.FINISHED,
        epochs=[{"epoch": 1, "loss": 1.0, "accuracy": 0.5}],
        data={"train_examples": n, "num_classes": K},
        final=final,
        wall_time_s=wall_s,
    )
    records.save(cfg, rec)
    led = ledger.Ledger.start(
        ledger.Part.empty(np.arange(n) * 2, labels, true_labels),
        np.ones(n, bool),
        ledger.Part.empty(np.arange(4), np.arange(4), np.arange(4)),
    )
    test_logits = logits_for(np.arange(4), np.ones(4, bool))
    led.append(0, logits_for(labels, np.ones(n, bool)), test_logits)
    led.append(1, logits_for(labels, ~wrong), test_logits)
    ledger.save(cfg.run_dir, led)


def test_report_from_synthetic_ledgers_tells_hard_examples_from_binomial_ones(tmp_path):
    base, runs, n = smoke_base(tmp_path), 10, 400
    rng = np.random.default_rng(2)
    labels = np.arange(n) % K
    hard = np.arange(n) < 100  # wrong in every run; the rest right with probability 0.9
    for _, cfg in difficulty.grid(
        base, difficulty_runs=runs, difficulty_models=("mlp_1x512",), difficulty_conditions=("true_labels", "gaussian")
    ):
        if cfg.corruption == "true_labels":
            wrong = hard | (rng.random(n) < 0.1)
        else:
            wrong = rng.random(n) < 0.4
        fake_run(cfg, wrong, labels, wall_s=float(cfg.run_seed))
    # A run of another experiment in the same directory is not read.
    other = dataclasses.replace(base, run_name="other", tag="memorization")
    fake_run(other, np.ones(n, bool), labels)
    text = difficulty.report(str(tmp_path))
    assert "| MLP 1x512 | true labels | 400 |" in text and "| MLP 1x512 | Gaussian inputs (randX) | 400 |" in text
    with open(tmp_path / "difficulty.csv", newline="") as f:
        rows = {r["condition"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"true_labels", "gaussian"}
    true, noise = rows["true_labels"], rows["gaussian"]
    assert int(true["runs"]) == 10 and float(true["ratio"]) > 3 and true["verdict"] == "over-dispersed"
    assert float(true["always_wrong"]) >= 0.25 and float(true["expected_always_wrong"]) < 1e-4
    assert abs(float(noise["ratio"]) - 1) < 0.25 and noise["verdict"] == "binomial"
    assert "binomial with the mean rate" in noise["arpit"] and float(true["wall_s_per_run"]) == 5.5
    with open(tmp_path / "difficulty_examples.csv", newline="") as f:
        examples = [r for r in csv.DictReader(f) if r["condition"] == "true_labels"]
    assert len(examples) == n and all(int(r["wrong"]) == runs for r in examples if int(r["index"]) < 200)
    with open(tmp_path / "difficulty_hist.csv", newline="") as f:
        hist = [r for r in csv.DictReader(f) if "true labels" in r["panel"]]
    observed = {int(float(r["x"])): float(r["y"]) for r in hist if r["series"] == "observed"}
    assert sum(observed.values()) == n and observed[runs] >= 100
    assert open(tmp_path / "difficulty.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_runs_of_one_cell_on_other_examples_are_a_one_line_error(tmp_path):
    labels = np.arange(40) % K
    (_, first), (_, second) = difficulty.grid(
        smoke_base(tmp_path), difficulty_runs=2, difficulty_models=("mlp_1x512",), difficulty_conditions=("gaussian",)
    )
    fake_run(first, np.zeros(40, bool), labels)
    fake_run(second, np.zeros(40, bool), (labels + 1) % K)
    with pytest.raises(difficulty.DifficultyError, match="other examples or labels"):
        difficulty.report(str(tmp_path))


def test_report_without_runs_says_so(tmp_path):
    assert "No finished difficulty runs" in difficulty.report(str(tmp_path))


@needs_data
def test_smoke_experiment_end_to_end(tmp_path):
    """Real runs: 3 one-epoch MLP runs on true labels and on Gaussian inputs (smoke preset, 64 images cropped to
    12x12); each keeps its ledger and record, no weights; the report's counts are those of the ledgers."""
    base = dataclasses.replace(smoke_base(tmp_path), train_size=64, test_size=64, crop_size=12)
    options = dict(
        difficulty_runs=3, difficulty_models=("mlp_1x512",), difficulty_conditions=("true_labels", "gaussian")
    )
    text = runner.run_experiment(difficulty.EXPERIMENT, base, **options)
    assert "| MLP 1x512 | true labels | 64 | 1 | 3 |" in text and "| MLP 1x512 | Gaussian inputs (randX) | 64 |" in text
    names = sorted(r.run_name for r in records.load_all(str(tmp_path)))
    assert len(names) == 6 and all(n.startswith("difficulty-n64-mlp_1x512-") for n in names)
    wrong = {}
    for name in names:
        files = set(os.listdir(tmp_path / name))
        assert ledger.FILE in files and records.WEIGHTS not in files and records.INITIAL_WEIGHTS not in files
        rec, led = records.read_record(str(tmp_path / name)), ledger.load(str(tmp_path / name))
        assert led.epochs.tolist() == [1] and rec.final.epochs_run == 1 and led.trained.all()
        assert 1 - led.train.correct[-1].mean() == pytest.approx(1 - rec.final.train_accuracy, abs=1e-6)
        key = (rec.config.corruption, tuple(led.train.index))
        wrong.setdefault(key, []).append(~led.train.correct[-1])
    with open(tmp_path / "difficulty_examples.csv", newline="") as f:
        examples = list(csv.DictReader(f))
    for (condition, index), rows in wrong.items():
        counts = np.sum(rows, axis=0)
        mine = {int(r["index"]): int(r["wrong"]) for r in examples if r["condition"] == condition}
        assert [mine[i] for i in index] == counts.tolist()
    assert difficulty.report(str(tmp_path)) == text  # rebuilt from the records alone
