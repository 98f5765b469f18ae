"""Partial input corruption (issue #44, Arpit et al.'s randX): --corrupt=p for gaussian and random_pixels corrupts a
fraction p of the training inputs, each chosen by a coin of (seed, index); labels and test images stay real, and the
training set's kept / corrupted split is recorded and kept in the ledger as a label corruption's is."""

import dataclasses
import io

import numpy as np
import pytest
from conftest import Events, tiny_config, tiny_raw

from rethink_tf import config, learning_order, ledger, records, summaries, train
from rethink_tf.data import corrupt, pipeline, sources

PARTIAL = ("random_pixels", "gaussian")


def test_the_partial_input_corruptions_are_the_data_packages():
    assert config.PARTIAL_INPUT_CORRUPTIONS == corrupt.PARTIAL_INPUT_CORRUPTIONS == PARTIAL


# The fingerprints of tiny_raw's data prepared by rethink_tf before #44 (commit 6567721), whole-split corruptions at
# --corrupt=0: the partial corruption changes none of their bits (their runs' records were compared too: equal).
BEFORE_44 = {
    "gaussian": {
        "train_images": "7577e4e5e42e66f9bcce3e678ebe6475581431c8cbbe61fbf95e9a1922ec1895",
        "test_images": "39e9b4fcce488400607c2c770fb2be172e1374741f032e5238ccbe398836c448",
        "train_labels": "635b290ef7230e98c3fa8660aac8f5e480dc94a156d1134a51769233c879528b",
    },
    "random_pixels": {
        "train_images": "e5e503cf1084db0eb63a5bc5a09ecec953366f05abb33a2d4349a48cb41f7cd7",
        "test_images": "d9db176272dfccdd090d0c416b1cb042db36bb6b5fd21f47461198e5ac83b932",
        "train_labels": "635b290ef7230e98c3fa8660aac8f5e480dc94a156d1134a51769233c879528b",
    },
}


@pytest.mark.parametrize("corruption", PARTIAL)
def test_a_whole_input_corruption_keeps_its_bits(tmp_path, corruption):
    cfg = tiny_config(tmp_path, corruption=corruption)
    assert (cfg.label_noise, cfg.corrupted_inputs, cfg.corruption_p) == (0.0, 1.0, 0.0)
    data = pipeline.prepare(cfg, raw=tiny_raw())
    assert {k: data.fingerprints[k] for k in BEFORE_44[corruption]} == BEFORE_44[corruption]
    assert data.train.inputs_changed is None and data.inputs_changed == 1.0 and data.labels_changed == 0.0


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 6, 6, 3), dtype=np.uint8)


@pytest.mark.parametrize("corruption", PARTIAL)
def test_the_coin_is_a_pure_function_of_seed_and_index(corruption):
    n, p = 600, 0.3
    images, labels = _images(n), np.arange(n) % 10
    mean, std = corrupt.pixel_stats(images, "global")
    kw = dict(corruption=corruption, label_noise=0.0, num_classes=10, seed=3, split=corrupt.TRAIN, mean=mean, std=std)
    whole_x, _ = corrupt.corrupt_split(images, labels, np.arange(n), **kw)
    x, y = corrupt.corrupt_split(images, labels, np.arange(n), **kw, input_fraction=p)
    hit = corrupt.inputs_corrupted(np.arange(n), p=p, seed=3)
    assert abs(hit.mean() - p) <= 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_array_equal(y, labels)  # labels untouched
    np.testing.assert_array_equal(x[hit], whole_x[hit])  # a corrupted input is the whole corruption's
    np.testing.assert_array_equal(x[~hit], images[~hit].astype(np.float32) / np.float32(255))  # the rest real
    # the same example gets the same decision and input whatever the subset and its order
    subset = np.sort(np.random.default_rng(1).choice(n, 97, replace=False))[::-1]
    sub_x, _ = corrupt.corrupt_split(images[subset], labels[subset], subset, **kw, input_fraction=p)
    np.testing.assert_array_equal(sub_x, x[subset])
    np.testing.assert_array_equal(corrupt.inputs_corrupted(subset, p=p, seed=3), hit[subset])
    # its own stream: another seed, other examples; not the label coin's examples
    assert np.mean(corrupt.inputs_corrupted(np.arange(n), p=p, seed=4) != hit) > 0.2
    _, coin_labels = corrupt.corrupt_split(
        images, np.zeros(n), np.arange(n), **{**kw, "corruption": "true_labels", "label_noise": p, "num_classes": 10**6}
    )
    assert np.mean((coin_labels != 0) != hit) > 0.2
    # p = 0 corrupts nothing, p = 1 is the whole corruption
    none_x, _ = corrupt.corrupt_split(images, labels, np.arange(n), **kw, input_fraction=0.0)
    np.testing.assert_array_equal(none_x, images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(
        corrupt.corrupt_split(images, labels, np.arange(n), **kw, input_fraction=1.0)[0], whole_x
    )


def _raw(n_train=1000, n_test=100):
    rng = np.random.default_rng(5)

    def split(n):
        return sources.RawSplit(rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), rng.integers(0, 10, n))

    return sources.RawData("fashion_mnist", split(n_train), split(n_test), 10, "in memory")


@pytest.mark.parametrize("corruption", PARTIAL)
def test_prepare_corrupts_a_fraction_of_the_training_inputs_and_no_test_image(corruption):
    raw = _raw()
    base = config.RunConfig(corruption=corruption, crop_size=8, curve_test_size=30)
    whole = pipeline.prepare(base, raw=raw)
    cfg = config.RunConfig(corruption=corruption, corrupt=0.4, crop_size=8, curve_test_size=30).validate()
    assert (cfg.label_noise, cfg.corrupted_inputs, cfg.corruption_p) == (0.0, 0.4, 0.4)
    data = pipeline.prepare(cfg, raw=raw)
    hit = data.train.inputs_changed
    assert abs(hit.mean() - 0.4) <= 5 * np.sqrt(0.24 / len(hit)) and data.inputs_changed == hit.mean()
    np.testing.assert_array_equal(data.train.changed, hit)
    np.testing.assert_array_equal(data.train.images[hit], whole.train.images[hit])
    np.testing.assert_array_equal(data.train.images[~hit], raw.train.images[~hit].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(data.train.labels, raw.train.labels)
    assert data.labels_changed == 0.0
    # Arpit et al. test on real data: the test images (and the curves' subset of them) stay real
    np.testing.assert_array_equal(data.test.images, raw.test.images.astype(np.float32) / np.float32(255))
    assert data.test.inputs_changed is None and not pipeline.curve_split(data.test, cfg).changed.any()
    assert not np.array_equal(whole.test.images, data.test.images)
    # held out by --train_fraction: every example keeps its decision, and every_train puts them back in order
    part = pipeline.prepare(dataclasses.replace(cfg, train_fraction=0.5, run_seed=1), raw=raw)
    every, trained = part.every_train()
    np.testing.assert_array_equal(every.inputs_changed, hit)
    np.testing.assert_array_equal(every.images, data.train.images)
    assert trained.sum() == 500 and part.inputs_changed == hit[trained].mean()


def test_values_and_names():
    for corruption in PARTIAL:
        name = config.default_run_name(config.RunConfig(model="mlp_1x512", corruption=corruption, corrupt=0.5))
        assert name == f"mlp_1x512-fashion_mnist-{corruption}-p0.5-seed0"
        with pytest.raises(config.ConfigError, match="--corrupt=1.0 is not allowed: .* at --corrupt=0, and a") as e:
            config.RunConfig(corruption=corruption, corrupt=1.0).validate()
        assert "\n" not in str(e.value)
        with pytest.raises(config.ConfigError, match="--corrupt_test_labels=True is not allowed: .* none to corrupt"):
            config.RunConfig(corruption=corruption, corrupt=0.5, corrupt_test_labels=True).validate()
    # shuffled_pixels: one permutation of every image, so --corrupt stays its label noise, as before
    shuffled = config.RunConfig(corruption="shuffled_pixels", corrupt=0.5).validate()
    assert (shuffled.label_noise, shuffled.corrupted_inputs, shuffled.corruption_p) == (0.5, 1.0, 0.5)
    labels = config.RunConfig(corrupt=0.5).validate()
    assert (labels.label_noise, labels.corrupted_inputs, labels.corruption_p) == (0.5, 0.0, 0.5)


def test_a_run_records_kept_and_corrupted_accuracies_that_its_ledger_re_derives(tmp_path, capsys):
    cfg = tiny_config(tmp_path, corruption="gaussian", corrupt=0.5, curve_test_size=20, train_fraction=0.75, run_seed=1)
    record = train.run(cfg, raw=tiny_raw(), progress="[p]")
    assert "(train acc kept " in capsys.readouterr().out
    data = pipeline.prepare(cfg, raw=tiny_raw())
    led = ledger.load(cfg.run_dir)
    every, trained = data.every_train()
    np.testing.assert_array_equal(led.train.input_changed, every.inputs_changed)
    np.testing.assert_array_equal(led.train.changed, every.inputs_changed)
    np.testing.assert_array_equal(led.trained, trained)
    assert not led.test.input_changed.any()
    assert record["data"]["train_inputs_changed"] == data.inputs_changed and 0 < data.inputs_changed < 1
    assert record["data"]["train_labels_changed"] == 0.0
    derived = learning_order.label_split(led)
    for row, again in zip(record["epochs"], derived, strict=True):
        for key in learning_order.DERIVED_KEYS:
            assert row[key] == again[key], key  # exactly: one prediction pass for both
    final = record["final"]
    assert final["train_changed_accuracy"] == record["epochs"][-1]["train_changed_accuracy"]
    assert summaries.final_values(record)["inputs_changed"] == data.inputs_changed
    events = Events(cfg.run_dir)  # TensorBoard's 2_accuracy/train_kept and train_changed, as for labels
    for key in ("train_kept_accuracy", "train_changed_accuracy"):
        series = [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in record["epochs"]]  # float32 in events
        assert events.series(summaries.EPOCH_TAGS[key][0]) == series
    assert events.series(summaries.FINAL_METRICS["inputs_changed"][0])[0][1] == pytest.approx(data.inputs_changed)
    assert summaries.hparam_values(cfg, record)["04_corrupt"] == 0.5
    assert learning_order.run_row(record, led)["p"] == 0.5
    # the same name and flags recorded before #44 meant every input and label noise: refused, not done
    del record["data"]["train_inputs_changed"]
    records.save(cfg, record)
    with pytest.raises(records.RunDirError, match=r"corrupted every input and 0.5 of the labels; now it corrupts"):
        records.check(cfg)


def test_a_ledger_of_format_1_loads_as_one_without_corrupted_inputs(tmp_path):
    led = ledger.Ledger.start(
        ledger.Part.empty(np.arange(4), [0, 1, 2, 0], [0, 1, 1, 0], [False, False, False, True]),
        np.ones(4, bool),
        ledger.Part.empty(np.arange(2), [0, 1], [0, 1]),
    )
    led.append(1, np.eye(3)[[0, 1, 2, 1]], np.eye(3)[[0, 0]])
    ledger.save(str(tmp_path), led)
    back = ledger.load(str(tmp_path))
    assert back.train.changed.tolist() == [False, False, True, True] and back.same_examples(led)
    arrays = {k: v for k, v in led.arrays().items() if not k.endswith("input_changed")}
    for fmt, ok in ((1, True), (3, False)):
        buffer = io.BytesIO()
        np.savez(buffer, **{**arrays, "format": np.int32(fmt)})
        (tmp_path / ledger.FILE).write_bytes(buffer.getvalue())
        if ok:
            old = ledger.load(str(tmp_path))
            assert old.train.changed.tolist() == [False, False, True, False] and not old.test.input_changed.any()
        else:
            with pytest.raises(ledger.LedgerError, match="has format 3; this rethink_tf reads formats 1 to 2"):
                ledger.load(str(tmp_path))
