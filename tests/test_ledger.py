"""The per-example ledger: its numbers, its agreement with the record, resume, held-out examples, and what it
leaves unchanged."""

import glob
import os

import keras
import numpy as np
import pytest
from conftest import all_weights, interrupted_run, same_weights, tiny_config, tiny_raw

import rethink_tf
from rethink_tf import config, ledger, ledger_summaries, records, summaries, train


def test_per_example_values_are_keras_cross_entropy_and_the_margin():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(50, 7)).astype(np.float32), rng.integers(0, 7, 50)
    labels[0], logits[0] = 3, np.array([0, 0, 0, 2, 1, 0, 0], np.float32)  # correct, margin 1
    correct, loss, margin = ledger.per_example(logits, labels)
    expected = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(loss, keras.ops.convert_to_numpy(expected), rtol=1e-5)
    assert correct[0] and margin[0] == 1.0
    np.testing.assert_array_equal(correct, np.argmax(logits, 1) == labels)
    np.testing.assert_array_equal(margin > 0, correct)


def test_rows_past_a_resumed_epoch_are_dropped_and_the_file_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    led = ledger.Ledger.start(
        ledger.Part.empty(np.arange(6), [0, 1, 2, 0, 1, 2], [0, 1, 1, 0, 1, 2]),
        np.array([1, 1, 0, 1, 1, 1], bool),
        ledger.Part.empty(np.arange(3), [0, 1, 2], [0, 1, 2]),
    )
    for epoch in (1, 2, 3):
        led.append(epoch, rng.normal(size=(6, 3)), rng.normal(size=(3, 3)))
    led.drop_from(2)
    assert list(led.epochs) == [1] and led.train.loss.shape == (1, 6) and led.test.margin.shape == (1, 3)
    led.append(2, rng.normal(size=(6, 3)), rng.normal(size=(3, 3)))
    ledger.save(str(tmp_path), led)
    back = ledger.load(str(tmp_path))
    assert list(back.epochs) == [1, 2] and back.train.loss.dtype == np.float16
    assert back.train.changed.tolist() == [False, False, True, False, False, False]
    for name, value in led.arrays().items():
        np.testing.assert_array_equal(back.arrays()[name], value)
    assert ledger.load(str(tmp_path / "none")) is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / ledger.FILE).write_bytes(b"not a zip")
    with pytest.raises(ledger.LedgerError, match="cannot be read"):
        ledger.load(str(tmp_path / "bad"))


def test_the_ledger_re_derives_the_records_kept_and_changed_accuracies_exactly(tmp_path):
    cfg = tiny_config(tmp_path, corrupt=0.5, curve_test_size=20)
    record = train.run(cfg, raw=tiny_raw())
    led = rethink_tf.load_ledger(cfg.run_dir)  # the library's entry: rethink_tf.ledger.load
    assert list(led.epochs) == [row["epoch"] for row in record["epochs"]] == [1, 2, 3, 4]
    assert led.train.correct.shape == (4, 96) and led.test.correct.shape == (4, 20) and led.trained.all()
    changed = led.train.changed
    assert 0 < changed.mean() < 1
    for row, correct in zip(record["epochs"], led.train.correct):
        assert correct[~changed].mean() == row["train_kept_accuracy"]
        assert correct[changed].mean() == row["train_changed_accuracy"]
    assert led.train.correct[-1].mean() == pytest.approx(record["final"]["train_accuracy"], abs=1e-6)
    np.testing.assert_array_equal(led.train.true_label, tiny_raw().train.labels)
    tab = glob.glob(os.path.join(cfg.run_dir, "*" + ledger_summaries.FILE_SUFFIX))
    assert len(tab) == 1  # the ledger's TensorBoard tab, which a rewrite of the run's events (measures) keeps
    summaries.rewrite(cfg, record)
    assert glob.glob(os.path.join(cfg.run_dir, "*" + ledger_summaries.FILE_SUFFIX)) == tab


def test_a_resumed_runs_ledger_equals_an_uninterrupted_ones_bit_for_bit(tmp_path, monkeypatch):
    whole = tiny_config(tmp_path / "whole", corrupt=0.3)
    train.run(whole, raw=tiny_raw())
    cut = interrupted_run(tiny_config(tmp_path / "cut", corrupt=0.3), monkeypatch)
    # The interrupt fell after the third epoch's ledger row was saved, before its record row and backup were.
    assert list(ledger.load(cut.run_dir).epochs) == [1, 2, 3] and len(records.read_record(cut.run_dir).epochs) == 2
    train.run(cut, raw=tiny_raw())
    a, b = ledger.load(whole.run_dir).arrays(), ledger.load(cut.run_dir).arrays()
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_held_out_examples_keep_their_labels_and_are_evaluated_too(tmp_path):
    full = tiny_config(tmp_path, corrupt=0.5)
    part = tiny_config(tmp_path, corrupt=0.5, train_fraction=0.75, run_seed=2)
    train.run(full, raw=tiny_raw())
    record = train.run(part, raw=tiny_raw())
    led, whole = ledger.load(part.run_dir), ledger.load(full.run_dir)
    assert led.trained.sum() == 72 == record["data"]["train_examples"]
    assert record["data"]["held_out_indices"] == led.train.index[~led.trained].tolist()
    np.testing.assert_array_equal(led.train.label, whole.train.label)  # the corruption is --seed's alone
    changed = led.train.changed[led.trained]
    row = record["epochs"][-1]
    assert led.train.correct[-1][led.trained][changed].mean() == row["train_changed_accuracy"]
    other = tiny_config(tmp_path, corrupt=0.5, train_fraction=0.75, run_seed=3)
    train.run(other, raw=tiny_raw())
    assert not np.array_equal(ledger.load(other.run_dir).trained, led.trained)  # another draw


def test_the_ledger_changes_no_number_and_can_be_turned_off(tmp_path):
    on = tiny_config(tmp_path / "on", corrupt=0.5)
    off = tiny_config(tmp_path / "off", corrupt=0.5, ledger=False)
    a, b = train.run(on, raw=tiny_raw()), train.run(off, raw=tiny_raw())
    assert a["final"] == b["final"] and [r["loss"] for r in a["epochs"]] == [r["loss"] for r in b["epochs"]]
    assert same_weights(*all_weights(tmp_path / "on").values(), *all_weights(tmp_path / "off").values())
    assert not os.path.exists(ledger.path(off.run_dir))


def test_runs_without_weights_keep_record_and_ledger_only(tmp_path):
    cfg = tiny_config(tmp_path, save_weights=False)
    assert train.run(cfg, raw=tiny_raw())["status"] == records.FINISHED
    kept = sorted(n for n in os.listdir(cfg.run_dir) if not n.startswith((records.EVENTS, records.CLAIM)))
    assert kept == [ledger.FILE, records.RECORD]
    with pytest.raises(config.ConfigError, match="--nomeasures with --nosave_weights"):
        tiny_config(tmp_path, save_weights=False, measures=True)
