"""What the per-example ledger shows: first-learned and learned-for-good epochs, forgetting events and the kept /
changed split on ledgers with known answers (and against a plain loop), the record's accuracies derived again,
the report over a results dir, and the ledger's TensorBoard tab read back."""

import csv
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import Events, fake_record, tiny_config, tiny_raw

from rethink_tf import callbacks, learning_order, ledger_summaries, summaries, train
from rethink_tf import ledger as ledger_lib
from rethink_tf.learning_order import NEVER

K = 4


def logits_for(correct, labels, k=K):
    """Logits [N, k] whose argmax is the label where `correct`, the next class where not."""
    labels = np.asarray(labels)
    predicted = np.where(correct, labels, (labels + 1) % k)
    logits = np.zeros((len(labels), k), np.float32)
    logits[np.arange(len(labels)), predicted] = 3.0
    return logits


def synthetic(correct, labels, true_labels, trained=None, first_epoch=1):
    """A ledger whose training examples are correct as correct [E, N] says; its test part a copy of the first."""
    correct = np.asarray(correct, bool)
    n = correct.shape[1]
    trained = np.ones(n, bool) if trained is None else np.asarray(trained, bool)
    train = ledger_lib.Part.empty(np.arange(n) * 3, labels, true_labels)
    test = ledger_lib.Part.empty([0], [0], [0])
    ledger = ledger_lib.Ledger.start(train, trained, test)
    for row, hits in enumerate(correct):
        ledger.append(first_epoch + row, logits_for(hits, labels), logits_for([True], [0]))
    return ledger


# Columns: examples a-f, rows: epochs 1-5.
PATTERNS = np.array(
    [
        # a  b  c  d  e  f
        [1, 0, 0, 1, 0, 1],
        [1, 1, 0, 0, 0, 1],
        [1, 0, 0, 1, 0, 1],
        [1, 1, 0, 0, 0, 1],
        [1, 1, 0, 0, 1, 0],
    ],
    bool,
)
LABELS = np.array([0, 1, 2, 3, 0, 1])
TRUE = np.array([0, 1, 2, 0, 1, 1])  # d and e changed


def test_known_first_learned_for_good_and_forgetting():
    ex = learning_order.examples(synthetic(PATTERNS, LABELS, TRUE))
    assert ex.first_learned.tolist() == [1, 2, NEVER, 1, 5, 1]
    assert ex.learned_for_good.tolist() == [1, 4, NEVER, NEVER, 5, NEVER]
    assert ex.forgetting_events.tolist() == [0, 1, 0, 2, 0, 1]
    assert ex.never_learned.tolist() == [False, False, True, False, False, False]
    assert ex.never_forgotten.tolist() == [True, False, False, False, True, False]
    assert ex.changed.tolist() == [False, False, False, True, True, False]
    # Learning order: first learned at epoch 1 (a, d, f in canonical order), then b, e; c never.
    assert learning_order.learning_order(ex).tolist() == [0, 3, 5, 1, 4, 2]


def test_epochs_are_the_recorded_ones_not_row_numbers():
    ex = learning_order.examples(synthetic(PATTERNS, LABELS, TRUE, first_epoch=11))
    assert ex.first_learned.tolist() == [11, 12, NEVER, 11, 15, 11]
    assert ex.learned_for_good.tolist() == [11, 14, NEVER, NEVER, 15, NEVER]


def reference(epochs, correct):
    """The definitions as plain loops over each example's recorded epochs."""
    first, good, forgetting = [], [], []
    for column in correct.T:
        hits = [int(e) for e, c in zip(epochs, column) if c]
        first.append(hits[0] if hits else NEVER)
        stays = [e for r, e in enumerate(epochs) if all(column[r:])]
        good.append(stays[0] if stays else NEVER)
        forgetting.append(sum(1 for r in range(len(column) - 1) if column[r] and not column[r + 1]))
    return first, good, forgetting


@pytest.mark.parametrize("rows", [1, 2, 7])
def test_per_example_agrees_with_plain_loops(rows):
    rng = np.random.default_rng(rows)
    correct = rng.random((rows, 300)) < rng.random(300)  # each example its own rate: all-right, all-wrong, mixed
    epochs = np.arange(1, rows + 1, dtype=np.int32)
    got = learning_order.per_example(epochs, correct)
    assert [g.tolist() for g in got] == [list(r) for r in reference(epochs, correct)]


def test_an_empty_ledger_has_nothing_learned():
    first, good, forgetting = learning_order.per_example(np.zeros(0, np.int32), np.zeros((0, 3), bool))
    assert first.tolist() == good.tolist() == [NEVER] * 3 and forgetting.tolist() == [0, 0, 0]


def test_median_epoch_counts_the_never_learned_as_latest():
    assert learning_order.median_epoch(np.array([1, 2, 3, 4])) == 2
    assert learning_order.median_epoch(np.array([5, 1, 3])) == 3
    assert learning_order.median_epoch(np.array([2, NEVER, NEVER])) is None  # half never learned
    assert learning_order.median_epoch(np.array([2, 4, NEVER])) == 4
    assert learning_order.median_epoch(np.array([], np.int32)) is None


def test_kept_and_changed_and_held_out_summaries():
    trained = np.array([True, True, True, True, True, False])  # f held out
    parts = learning_order.split(learning_order.examples(synthetic(PATTERNS, LABELS, TRUE, trained)))
    assert set(parts) == {("trained", "kept"), ("trained", "changed"), ("held out", "kept"), ("held out", "changed")}
    kept, changed = parts["trained", "kept"], parts["trained", "changed"]  # a, b, c and d, e
    assert kept == learning_order.Summary(3, 2, pytest.approx(1 / 3), pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert changed == learning_order.Summary(2, 1, 1.0, 0.5, 0.0)
    assert parts["held out", "kept"] == learning_order.Summary(1, 1, 1.0, 0.0, 0.0)
    assert parts["held out", "changed"].examples == 0 and parts["held out", "changed"].never_learned is None
    # Without held-out examples only the trained ones are summarized.
    assert set(learning_order.split(learning_order.examples(synthetic(PATTERNS, LABELS, TRUE)))) == {
        ("trained", "kept"),
        ("trained", "changed"),
    }
    assert learning_order.changed_after_kept(kept, changed) is False  # d learned at epoch 1, before b


def test_changed_after_kept_decides_only_with_both_groups():
    def s(n, median):
        return learning_order.Summary(n, median, 0.0, 0.0, 0.0)

    assert learning_order.changed_after_kept(s(5, 2), s(5, 6)) is True
    assert learning_order.changed_after_kept(s(5, 2), s(5, None)) is True  # half the changed never learned
    assert learning_order.changed_after_kept(s(5, 3), s(5, 3)) is False
    assert learning_order.changed_after_kept(s(5, None), s(5, 4)) is False
    assert learning_order.changed_after_kept(s(5, None), s(5, None)) is None
    assert learning_order.changed_after_kept(s(0, None), s(5, 4)) is None


def test_label_split_equals_the_callbacks_accuracies_on_the_trained_examples():
    rng = np.random.default_rng(3)
    n, rows = 200, 4
    labels = rng.integers(0, K, n)
    true = np.where(rng.random(n) < 0.4, rng.integers(0, K, n), labels)
    trained = rng.random(n) < 0.7
    logits = rng.normal(size=(rows, n, K)).astype(np.float32)
    ledger = ledger_lib.Ledger.start(
        ledger_lib.Part.empty(np.arange(n), labels, true), trained, ledger_lib.Part.empty([0], [0], [0])
    )
    for row in range(rows):
        ledger.append(row + 1, logits[row], np.zeros((1, K), np.float32))
    derived = learning_order.label_split(ledger)
    assert [d["epoch"] for d in derived] == [1, 2, 3, 4]
    for row, d in enumerate(derived):
        expected = callbacks.label_split_accuracies(np.argmax(logits[row][trained], -1), labels[trained], true[trained])
        assert {k: d[k] for k in learning_order.DERIVED_KEYS} == {k: expected[k] for k in learning_order.DERIVED_KEYS}
    assert "train_changed_true_accuracy" not in derived[0]  # the ledger cannot tell it


def write_run(tmp_path, ledger, **overrides):
    cfg = tiny_config(tmp_path, **overrides)
    fake_record(cfg, fit_epoch=None, test_accuracy=0.5)
    if ledger is not None:
        ledger_lib.save(cfg.run_dir, ledger)
    return cfg


def ledger_of(rng, n, rows, changed_fraction, changed_delay):
    """Kept labels learned around epoch 2, changed ones `changed_delay` epochs later; a few forgotten."""
    labels = rng.integers(0, K, n)
    true = np.where(rng.random(n) < changed_fraction, (labels + 1) % K, labels)
    when = 2 + rng.integers(0, 2, n) + changed_delay * (labels != true)
    correct = np.arange(1, rows + 1)[:, None] >= when[None, :]
    correct[rows - 2, rng.random(n) < 0.1] = False  # forgotten once, learned again
    return synthetic(correct, labels, true)


def test_the_report_reads_every_run_with_a_ledger_of_more_than_one_epoch(tmp_path):
    rng = np.random.default_rng(0)
    late = write_run(tmp_path, ledger_of(rng, 80, 8, 0.5, 3), corrupt=0.5)
    early = write_run(tmp_path, ledger_of(rng, 80, 8, 0.2, -1), corrupt=0.2)
    write_run(tmp_path, ledger_of(rng, 80, 1, 0.5, 0), corrupt=0.8)  # one epoch: left out
    write_run(tmp_path, None, corrupt=0.3)  # no ledger: left out
    text = learning_order.report(str(tmp_path))

    with open(tmp_path / "learning_order.csv", newline="") as f:
        rows = {row["run"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == sorted(os.path.basename(c.run_dir) for c in (late, early))
    late_row = rows[os.path.basename(late.run_dir)]
    assert list(late_row) == list(learning_order.FIELDS)
    assert late_row["model"] == "mlp_1x512" and float(late_row["p"]) == 0.5 and late_row["epochs"] == "8"
    assert int(late_row["median_first_learned_changed"]) > int(late_row["median_first_learned_kept"])
    assert late_row["changed_learned_after_kept"] == "True"
    assert rows[os.path.basename(early.run_dir)]["changed_learned_after_kept"] == "False"
    assert late_row["held_out"] == "0" and late_row["held_out_median_first_learned_kept"] == ""
    # The numbers are the module's on the ledger read back.
    ex = learning_order.examples(ledger_lib.load(late.run_dir))
    kept = ~ex.changed
    assert float(late_row["mean_forgetting_kept"]) == pytest.approx(ex.forgetting_events[kept].mean())
    assert float(late_row["never_forgotten_changed"]) == pytest.approx(ex.never_forgotten[ex.changed].mean())

    assert "changed labels' median first-learned epoch comes after the kept labels' in 1 of 2 runs" in text
    assert "Held-out" not in text
    assert (tmp_path / "learning_order.png").stat().st_size > 10_000
    series = list(csv.DictReader(open(tmp_path / "learning_order_histogram.csv")))
    panels = {row["panel"] for row in series}
    extents = [(r["panel"], r["x"], r["y"]) for r in series if r["series"] == learning_order.RECORDED]
    assert sorted(extents) == [
        ("mlp_1x512 true_labels p=0.2", "8.0", "1.0"),
        ("mlp_1x512 true_labels p=0.5", "8.0", "1.0"),
    ]
    assert panels == {"mlp_1x512 true_labels p=0.5", "mlp_1x512 true_labels p=0.2"}
    for panel in panels:
        for label in ("kept", "changed"):
            ys = [float(r["y"]) for r in series if r["panel"] == panel and r["series"] == label]
            assert sum(ys) == pytest.approx(1.0)  # fractions of the group


def test_the_report_of_a_dir_without_ledgers_says_so(tmp_path):
    write_run(tmp_path, None, corrupt=0.5)
    assert "No run here has a ledger" in learning_order.report(str(tmp_path))
    assert (tmp_path / "learning_order.png").exists()


def test_held_out_examples_get_their_own_table(tmp_path):
    rng = np.random.default_rng(1)
    ledger = ledger_of(rng, 60, 6, 0.5, 2)
    ledger.trained = rng.random(60) < 0.7
    write_run(tmp_path, ledger, corrupt=0.5, train_fraction=0.7)
    text = learning_order.report(str(tmp_path))
    assert "Held-out examples" in text
    row = next(csv.DictReader(open(tmp_path / "learning_order.csv")))
    assert int(row["held_out"]) == int((~ledger.trained).sum()) and int(row["trained"]) == int(ledger.trained.sum())


# ------------------------------------------------------------------------------------------------------------
# TensorBoard
# ------------------------------------------------------------------------------------------------------------

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress")


def tb_ledger(n=400, rows=6):
    rng = np.random.default_rng(5)
    labels = np.arange(n) % K
    true = np.where(rng.random(n) < 0.3, (labels + 1) % K, labels)
    correct = rng.random((rows, n)) < np.linspace(0.2, 0.95, rows)[:, None]
    correct[:, :4] = False  # one never-learned example per class
    true[0] = 1  # class 0's is a changed label: the histogram of changed labels has a never-learned example
    return synthetic(correct, labels, true), rng.random((n, 28, 28, 1)).astype(np.float32)


def decoded(events, tag):
    (event,) = events.acc.Tensors(tag)
    width, height, png = tf.make_ndarray(event.tensor_proto)
    return event.step, int(width), int(height), tf.io.decode_png(png).numpy()


def test_tensorboard_shows_strips_per_class_and_histograms(tmp_path):
    cfg = tiny_config(tmp_path, corrupt=0.3)
    os.makedirs(cfg.run_dir)
    ledger, images = tb_ledger()
    writer = summaries.Writer(cfg)  # the run's own events, which must stay
    writer.restart([{"epoch": 1, "loss": 1.0}])
    writer.close()
    ledger_summaries.write(cfg, ledger, images, CLASSES)
    events = Events(cfg.run_dir)
    assert summaries.EPOCH_TAGS["loss"][0] in events.tags  # the run's scalars untouched, in the same TensorBoard run
    group = ledger_summaries.LEDGER
    expected = {
        f"{group}/{kind}/0{c}_{name}"
        for kind in ("latest_learned", "most_forgotten")
        for c, name in enumerate(("T-shirt_top", "Trouser", "Pullover", "Dress"))
    }
    expected |= {f"{group}/first_learned_epoch/{lab}" for lab in ("kept", "changed")}
    expected |= {f"{group}/forgetting_events/{lab}" for lab in ("kept", "changed")}
    assert {t for t in events.tags if t.startswith(group)} == expected

    ex = learning_order.examples(ledger)
    step, width, height, pixels = decoded(events, f"{group}/latest_learned/00_T-shirt_top")
    assert step == 6 and pixels.shape == (height, width, 3)
    tile = 28 * 2 + 2 * ledger_summaries.BORDER  # 28 pixels enlarged twice, framed
    assert (height, width) == (tile, 8 * tile + 7 * ledger_summaries.GAP)
    # Class 0's latest learned: its never-learned example (position 0) first; its border tells kept from changed.
    description = events.acc.SummaryMetadata(f"{group}/latest_learned/00_T-shirt_top").summary_description
    assert "1. #0: given T-shirt/top, true " in description and "first learned never" in description
    shown = ledger_summaries.latest_learned(
        ex, ledger.train.margin[-1].astype(np.float32), np.flatnonzero(ledger.train.label == 0)
    )
    assert shown[0] == 0
    for i, position in enumerate(shown[:8]):
        corner = pixels[0, i * (tile + ledger_summaries.GAP)] / 255
        color = ledger_summaries.COLORS[bool(ledger.train.changed[position])]
        np.testing.assert_allclose(corner, color, atol=1 / 255)
        flag = " (changed)" if ledger.train.changed[position] else ""
        true = CLASSES[ledger.train.true_label[position]]
        assert f"{i + 1}. #{ledger.train.index[position]}: given {CLASSES[0]}, true {true}{flag};" in description
    # Most forgotten: in order of forgetting events, the most first.
    forgotten = ledger_summaries.most_forgotten(ex, np.flatnonzero(ledger.train.label == 1))
    counts = ex.forgetting_events[forgotten]
    assert len(forgotten) and all(counts > 0) and list(counts) == sorted(counts, reverse=True)

    # Histograms hold every trained kept / changed example; the never learned at the last epoch + 1.
    (hist,) = events.acc.Tensors(f"{group}/first_learned_epoch/changed")
    buckets = tf.make_ndarray(hist.tensor_proto)  # [left, right, count] rows
    assert hist.step == 6 and buckets[:, 2].sum() == ledger.train.changed.sum() and buckets[-1, 1] == 7


def test_tensorboard_writing_again_gives_the_same_events(tmp_path):
    cfg = tiny_config(tmp_path, corrupt=0.3)
    os.makedirs(cfg.run_dir)
    ledger, images = tb_ledger()

    def contents():
        events = Events(cfg.run_dir)
        return {
            tag: [(e.step, e.tensor_proto.SerializeToString()) for e in events.acc.Tensors(tag)]
            for tag in sorted(events.tags)
        }

    ledger_summaries.write(cfg, ledger, images, CLASSES)
    first = contents()
    ledger_summaries.write(cfg, ledger, images, CLASSES)
    assert len(ledger_summaries.event_files(cfg.run_dir)) == 1 and contents() == first
    assert all(len(values) == 1 for values in first.values())  # each tag once, at the last epoch


def test_tensorboard_images_must_match_the_ledger(tmp_path):
    cfg = tiny_config(tmp_path)
    ledger, images = tb_ledger()
    with pytest.raises(ledger_summaries.LedgerSummaryError, match=r"pass one \[H, W, C\] image per training example"):
        ledger_summaries.write(cfg, ledger, images[:10], CLASSES)
    assert not os.path.exists(cfg.run_dir) or not ledger_summaries.event_files(cfg.run_dir)


# ------------------------------------------------------------------------------------------------------------
# Real runs
# ------------------------------------------------------------------------------------------------------------


def test_real_runs_rederive_their_records_report_and_show_in_tensorboard(tmp_path):
    raw = tiny_raw()
    configs = [
        tiny_config(tmp_path, corrupt=0.5, epochs=4),
        tiny_config(tmp_path, corrupt=0.5, epochs=4, train_fraction=0.75, run_seed=1),
    ]
    for cfg in configs:
        record = train.run(cfg, raw=raw)
        ledger = ledger_lib.load(cfg.run_dir)
        assert ledger.epochs.tolist() == [row["epoch"] for row in record["epochs"]] == [1, 2, 3, 4]
        # The record's kept / changed accuracies, every epoch, exactly.
        for derived, row in zip(learning_order.label_split(ledger), record["epochs"], strict=True):
            assert {k: derived[k] for k in learning_order.DERIVED_KEYS} == {
                k: row[k] for k in learning_order.DERIVED_KEYS
            }
        images = raw.train.images[ledger.train.index].astype(np.float32) / 255
        ledger_summaries.write(cfg, ledger, images, record["data"]["class_names"])
        events = Events(cfg.run_dir)
        assert summaries.EPOCH_TAGS["train_kept_accuracy"][0] in events.tags  # the run's own events kept
        tags = {t for t in events.tags if t.startswith(ledger_summaries.LEDGER)}
        assert {f"{ledger_summaries.LEDGER}/latest_learned/0{c}_{c}" for c in range(4)} <= tags
        assert all(e.step == 4 for tag in tags for e in events.acc.Tensors(tag))
        assert (f"{ledger_summaries.LEDGER}/first_learned_epoch/held_out_kept" in tags) == (cfg.train_fraction < 1)

    learning_order.report(str(tmp_path))
    rows = {row["run"]: row for row in csv.DictReader(open(tmp_path / "learning_order.csv"))}
    assert sorted(rows) == sorted(os.path.basename(c.run_dir) for c in configs)
    held = rows[os.path.basename(configs[1].run_dir)]
    assert (int(held["trained"]), int(held["held_out"])) == (72, 24) and held["epochs"] == "4"
    assert "Held-out examples" in open(tmp_path / "learning_order.md").read()
