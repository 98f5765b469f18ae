"""Feldman & Zhang's held-out estimator and empirical stability (rethink_tf.heldout) on synthetic ledgers with known
answers, the memorization experiment's runs, and its report from records and ledgers."""

import csv
import dataclasses
import os

import numpy as np
import pytest
from conftest import fake_record, needs_data, smoke_base

from rethink_tf import heldout, ledger, records
from rethink_tf.errors import BadInput
from rethink_tf.experiments import memorization, runner

K = 10


def logits_for(labels, correct, strength):
    """Logits [N, K] whose argmax is each label where `correct`, the next class where not; `strength` is the
    winning logit (the others 0), so the cross-entropy is log(e^s + K - 1) - s when right, log(e^s + K - 1) when
    wrong."""
    n = len(labels)
    out = np.zeros((n, K), np.float32)
    winner = np.where(correct, labels, (labels + 1) % K)
    out[np.arange(n), winner] = strength
    return out


def synthetic(trained, correct, test_correct, labels, true_labels=None, strength=None, epochs=2):
    """One ledger per run k: trained[k], final correctness correct[k] of the training examples and test_correct[k] of
    the test examples (an earlier row of all-wrong first, so the estimator must read the last row)."""
    t, n = correct.shape
    true_labels = labels if true_labels is None else true_labels
    strength = np.full((t, n), 5.0, np.float32) if strength is None else strength
    test_labels = np.arange(test_correct.shape[1]) % K
    out = []
    for k in range(t):
        led = ledger.Ledger.start(
            ledger.Part.empty(np.arange(n) * 3, labels, true_labels),
            trained[k],
            ledger.Part.empty(np.arange(test_correct.shape[1]), test_labels, test_labels),
        )
        for e in range(1, epochs):
            led.append(e, logits_for(labels, np.zeros(n, bool), 5.0), logits_for(test_labels, test_correct[k] * 0, 5.0))
        led.append(epochs, logits_for(labels, correct[k], strength[k]), logits_for(test_labels, test_correct[k], 5.0))
        out.append(led)
    return out


def naive_mem(trained, correct, i):
    inside, outside = correct[trained[:, i], i], correct[~trained[:, i], i]
    return inside.mean() - outside.mean(), inside.size, outside.size


def agresti_caffo(inside, outside):
    """The SE of mean(inside) - mean(outside), each proportion with a success and a failure added."""
    a, b = (inside.sum() + 1) / (inside.size + 2), (outside.sum() + 1) / (outside.size + 2)
    return np.sqrt(a * (1 - a) / (inside.size + 2) + b * (1 - b) / (outside.size + 2))


def draw_trained(rng, t, n, m=0.7):
    return np.stack([rng.permutation(n) < round(m * n) for _ in range(t)])


def test_a_fitted_label_at_chance_held_out_is_memorized_and_negatives_are_kept():
    rng = np.random.default_rng(0)
    t, n = 400, 30
    trained = draw_trained(rng, t, n)
    labels = np.arange(n) % K
    true_labels = labels.copy()
    true_labels[:10] = (labels[:10] + 3) % K  # 0-9: changed labels, fitted when in, right 1 time in K when out
    correct = np.ones((t, n), bool)
    correct[:, :10] = trained[:, :10] | (rng.random((t, 10)) < 1 / K)
    # 10-19: always right (easy kept labels: mem 0); 20-29: right only when held out (mem -1, kept, not clipped)
    correct[:, 20:] = ~trained[:, 20:]
    ledgers = synthetic(trained, correct, np.ones((t, 4), bool), labels, true_labels)
    est = heldout.memorization(heldout.stack(ledgers))

    assert np.array_equal(est.index, np.arange(n) * 3) and np.array_equal(est.changed, np.arange(n) < 10)
    for i in range(n):
        mem, n_in, n_out = naive_mem(trained, correct, i)
        assert est.mem[i] == pytest.approx(mem) and (est.n_in[i], est.n_out[i]) == (n_in, n_out)
        assert est.se[i] == pytest.approx(agresti_caffo(correct[trained[:, i], i], correct[~trained[:, i], i]))
    assert np.all(np.abs(est.mem[:10] - (1 - 1 / K)) < 0.1)  # 1 - 1/K, within its noise at t = 400
    # All right in and out is still an estimate from finitely many runs: its SE is not 0, and shrinks with t.
    assert np.all(est.se > 0.005) and np.all(est.se < 0.05)
    assert np.all(est.mem[10:20] == 0) and np.all(est.mem[20:] == -1)

    changed, kept = heldout.summarize(est, est.changed), heldout.summarize(est, ~est.changed)
    assert (changed.memorized, changed.negative, kept.memorized, kept.negative) == (10, 0, 0, 10)
    assert kept.mean_mem == pytest.approx(-0.5) and kept.memorized_fraction == 0
    assert heldout.summarize(est).memorized_fraction == pytest.approx(10 / 30)


def test_an_example_every_run_trains_on_has_no_estimate():
    trained = np.array([[True, True], [True, False], [True, True]])
    correct = np.ones((3, 2), bool)
    est = heldout.memorization(heldout.stack(synthetic(trained, correct, np.ones((3, 2), bool), np.arange(2))))
    assert np.isnan(est.mem[0]) and np.isnan(est.se[0]) and (est.n_in[0], est.n_out[0]) == (3, 0)
    assert est.estimated.tolist() == [False, True]
    assert heldout.summarize(est).estimated == 1


def test_influence_finds_the_one_pair_and_its_se():
    rng = np.random.default_rng(1)
    t, n, m = 200, 12, 6
    trained = draw_trained(rng, t, n)
    test_correct = rng.random((t, m)) < 0.5
    test_correct[:, 2] = trained[:, 5]  # test example 2 is right exactly when training example 5 is in
    ledgers = synthetic(trained, np.ones((t, n), bool), test_correct, np.arange(n) % K)
    infl = heldout.influence(heldout.stack(ledgers))
    assert infl.infl.shape == (n, m) and infl.infl[5, 2] == 1.0
    for i, j in ((0, 0), (5, 3), (11, 2)):
        inside, outside = test_correct[trained[:, i], j], test_correct[~trained[:, i], j]
        assert infl.infl[i, j] == pytest.approx(inside.mean() - outside.mean())
        assert infl.se[i, j] == pytest.approx(agresti_caffo(inside, outside))
    pairs = infl.pairs()
    assert pairs[0][:3] == (15, 2, 1.0)  # canonical indices: training example 5 is index 15
    assert pairs[0][3] == pytest.approx(agresti_caffo(test_correct[trained[:, 5], 2], test_correct[~trained[:, 5], 2]))
    assert all(v >= heldout.INFL_THRESHOLD for _, _, v, _ in pairs)
    # Half-chance noise at t = 200 gives |infl| about 0.08, so hardly any other pair passes 0.15.
    assert len(pairs) < 6


def test_stability_is_the_loss_held_out_minus_the_loss_trained_on():
    rng = np.random.default_rng(2)
    t, n = 40, 8
    trained = draw_trained(rng, t, n, 0.5)
    correct = np.ones((t, n), bool)
    strength = np.where(trained, 8.0, 1.0).astype(np.float32)  # a confident fit when in, a weak guess when out
    strength[:, 0] = 3.0  # example 0: the same loss whether in or out
    led = synthetic(trained, correct, np.ones((t, 2), bool), np.arange(n) % K, strength=strength)
    est = heldout.memorization(heldout.stack(led))

    def loss(s):
        return float(np.float16(np.log(np.exp(s) + K - 1) - s))

    assert est.stab[0] == pytest.approx(0.0, abs=1e-6) and est.stab_se[0] == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(est.stab[1:], loss(1.0) - loss(8.0), rtol=1e-3)
    assert np.allclose(est.loss_in[1:], loss(8.0), rtol=1e-3)
    summary = heldout.summarize(est)
    assert summary.max_stab == pytest.approx(loss(1.0) - loss(8.0), rel=1e-3)
    assert summary.mean_stab == pytest.approx(7 / 8 * (loss(1.0) - loss(8.0)), rel=1e-3)
    # A held-out loss that varies from run to run has a spread: its SE is the two samples' standard errors.
    strength[:, 1] = np.where(trained[:, 1], 8.0, rng.uniform(0.5, 2.0, t))
    led = synthetic(trained, correct, np.ones((t, 2), bool), np.arange(n) % K, strength=strength)
    est = heldout.memorization(heldout.stack(led))
    losses = np.array([float(x.train.loss[-1][1]) for x in led])
    out, inside = losses[~trained[:, 1]], losses[trained[:, 1]]
    assert est.stab[1] == pytest.approx(out.mean() - inside.mean(), rel=1e-5)
    expected = np.sqrt(out.var(ddof=1) / out.size + inside.var(ddof=1) / inside.size)
    assert est.stab_se[1] == pytest.approx(expected, rel=1e-3)


def test_spread_against_t_shrinks_and_ends_at_zero():
    rng = np.random.default_rng(3)
    t, n = 64, 50
    trained = draw_trained(rng, t, n)
    correct = trained | (rng.random((t, n)) < 0.3)
    spread = heldout.spread(heldout.stack(synthetic(trained, correct, np.ones((t, 2), bool), np.arange(n) % K)))
    assert [s.t for s in spread] == [8, 16, 32, 64]
    assert spread[-1].mean_abs_change == 0 and spread[0].mean_abs_change > spread[-1].mean_abs_change
    assert spread[0].mean_se > spread[-1].mean_se > 0
    assert all(s.estimated == n for s in spread[1:])


def test_ledgers_of_other_labels_are_refused_in_one_line():
    trained = np.array([[True, False], [False, True]])
    a = synthetic(trained[:1], np.ones((1, 2), bool), np.ones((1, 2), bool), np.array([0, 1]))
    b = synthetic(trained[1:], np.ones((1, 2), bool), np.ones((1, 2), bool), np.array([0, 2]))
    with pytest.raises(BadInput, match="run-b is not on the training set of run-a") as e:
        heldout.stack(a + b, ["run-a", "run-b"])
    assert "\n" not in str(e.value)
    with pytest.raises(BadInput, match="no ledgers"):
        heldout.stack([])


def test_the_grid_holds_out_a_fraction_and_keeps_no_weights(tmp_path):
    base = smoke_base(tmp_path)
    runs = memorization.grid(
        base, memorization_runs=3, memorization_levels=(1.0, 0.0), memorization_models=("mlp_1x512",)
    )
    configs = [c for _, c in runs]
    assert [(c.run_seed, c.corruption, c.corrupt) for c in configs] == [
        (k, corruption, 0.0) for k in (1, 2, 3) for corruption in ("true_labels", "random_labels")
    ]
    assert all(c.train_fraction == 0.7 and c.ledger and not c.save_weights and not c.measures for c in configs)
    assert all(c.tag == "memorization" and c.seed == base.seed for c in configs)
    assert len({c.run_dir for c in configs}) == 6 and configs[0].run_dir.endswith("-m0.7-r1")
    weights = memorization.grid(base, memorization_runs=2, memorization_weights=True)
    assert all(c.save_weights for _, c in weights) and len(weights) == 2 * 2 * 3
    with pytest.raises(BadInput, match="--memorization_fraction=1"):
        memorization.grid(base, memorization_fraction=1.0)
    cheap = memorization.grid(
        base, memorization_runs=2, memorization_model_runs=("mlp_1x512=3",), memorization_levels=[0]
    )
    assert [(c.model, c.run_seed) for _, c in cheap] == [
        ("mlp_1x512", 1),
        ("alexnet_small", 1),
        ("mlp_1x512", 2),
        ("mlp_1x512", 3),
        ("alexnet_small", 2),
    ]  # fmt: skip: the share of each model's t done: 1/3, 1/2, 2/3, 1, 1
    for bad in ("mlp_1x512", "inception_small=5", "mlp_1x512=1"):
        with pytest.raises(BadInput, match=f"--memorization_model_runs={bad}: give MODEL=T"):
            memorization.grid(base, memorization_model_runs=(bad,))


def fake_group(base, model, p, trained, correct, labels, true_labels, test_correct):
    """Records and ledgers of t held-out runs, as the experiment's runs would leave them."""
    for k, led in enumerate(synthetic(trained, correct, test_correct, labels, true_labels), start=1):
        cfg = memorization.run_config(base, model, p, k, 0.7)
        fake_record(cfg, fit_epoch=2, test_accuracy=0.5)
        ledger.save(cfg.run_dir, led)


def test_report_from_records_and_ledgers(tmp_path):
    base = dataclasses.replace(smoke_base(tmp_path), results_dir=str(tmp_path))
    rng = np.random.default_rng(4)
    t, n = 16, 20
    labels = np.arange(n) % K
    true_labels = np.where(np.arange(n) < 10, (labels + 1) % K, labels)
    trained = draw_trained(rng, t, n)
    correct = trained | (rng.random((t, n)) < 0.1)  # every example memorized
    test_correct = rng.random((t, 5)) < 0.5
    fake_group(base, "mlp_1x512", 0.5, trained, correct, labels, true_labels, test_correct)
    fake_group(base, "mlp_1x512", 0.0, trained, np.ones((t, n), bool), labels, labels, test_correct)
    other = dataclasses.replace(base, seed=1)  # another training set: its own group, never pooled
    fake_group(other, "mlp_1x512", 0.0, trained[:3], np.ones((3, n), bool), labels, labels, test_correct[:3])

    text = memorization.report(str(tmp_path))
    assert "| MLP 1x512, p = 0 | 16 | 0/20 (0.0%)" in text and "| MLP 1x512, p = 0.5 | 16 |" in text
    assert "| MLP 1x512, p = 0 | 3 |" in text
    assert "# Learning order" in text  # learning_order's section, of the same runs' ledgers
    with open(tmp_path / "memorization_scores.csv", newline="") as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == 3 * n
    mine = [r for r in scores if r["p"] == "0.5"]
    for r in mine:
        i = int(r["index"]) // 3
        mem, n_in, n_out = naive_mem(trained, correct, i)
        assert float(r["mem"]) == pytest.approx(mem, abs=1e-5) and (int(r["n_in"]), int(r["n_out"])) == (n_in, n_out)
        assert (r["changed"] == "True") == (i < 10) and int(r["true_label"]) == true_labels[i]
    drawn = os.path.exists(tmp_path / "memorization_examples.png")  # the images of Fashion-MNIST, where installed
    assert drawn != ("Example images not drawn" in text) and "| MLP 1x512, p = 0 |" in text
    for name in ("hist", "stability", "spread"):
        assert open(tmp_path / f"memorization_{name}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "memorization.csv", newline="") as f:
        summary = {(r["p"], r["labels"]): r for r in csv.DictReader(f) if r["t"] == "16"}
    assert float(summary[("0.5", "changed")]["mean_mem"]) > 0.7 and summary[("0.0", "all")]["memorized"] == "0"
    assert os.path.exists(tmp_path / "memorization_pairs.csv") and os.path.exists(tmp_path / "memorization.md")


def test_report_without_runs_says_so(tmp_path):
    assert "No finished held-out runs" in memorization.report(str(tmp_path))


@needs_data
def test_smoke_experiment_end_to_end(tmp_path):
    """Real runs: 2 held-out MLP runs on true and on random labels (smoke preset, 64 images cropped to 12x12);
    each keeps its ledger and record, no weights; the report's per-example scores are those of the ledgers."""
    base = dataclasses.replace(smoke_base(tmp_path), train_size=64, test_size=64, crop_size=12)
    options = dict(memorization_runs=2, memorization_levels=(0.0, 1.0), memorization_models=("mlp_1x512",))
    options.update(difficulty_runs=2, difficulty_models=("mlp_1x512",), difficulty_conditions=("true_labels",))
    text = runner.run_experiment(memorization.EXPERIMENT, base, **options)
    assert "| MLP 1x512, p = 0 | 2 |" in text and "| MLP 1x512, p = 1 | 2 |" in text
    assert "# Per-example difficulty" in text  # its runs are among the experiment's, its report follows
    everything = sorted(r.run_name for r in records.load_all(str(tmp_path)))
    names = [n for n in everything if not n.startswith("difficulty-")]
    assert len(names) == 4 and all("-m0.7-r" in n for n in names) and len(everything) == 6
    with open(tmp_path / "memorization_scores.csv", newline="") as f:
        scores = list(csv.DictReader(f))
    assert len(scores) == 2 * 64 and all(int(r["n_in"]) + int(r["n_out"]) == 2 for r in scores)
    for name in names:
        files = set(os.listdir(tmp_path / name))
        assert ledger.FILE in files and records.WEIGHTS not in files and records.INITIAL_WEIGHTS not in files
        rec, led = records.read_record(str(tmp_path / name)), ledger.load(str(tmp_path / name))
        assert sorted(led.train.index[~led.trained].tolist()) == rec["data"]["held_out_indices"]
        assert led.trained.sum() == round(0.7 * 64) == rec["data"]["train_examples"]
    random = [n for n in names if "random_labels" in n]
    stacked = heldout.stack([ledger.load(str(tmp_path / n)) for n in random])
    mine = {int(r["index"]): r for r in scores if r["p"] == "1.0"}
    est = heldout.memorization(stacked)
    for i, mem in zip(est.index, est.mem, strict=True):
        assert mine[int(i)]["mem"] == ("" if np.isnan(mem) else f"{mem:.6g}")
    assert sum(r["changed"] == "True" for r in mine.values()) > 45  # random labels: about 9 in 10 changed
