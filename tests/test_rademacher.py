"""The Rademacher probe: random signs that depend only on (seed, index), and the estimate 2 * accuracy - 1."""

import numpy as np
import pytest

from rethink_tf import config, rademacher
from rethink_tf.data import sources
from test_train import tiny_raw


def test_random_signs_are_balanced_bits_fixed_by_seed_and_index():
    raw = tiny_raw(n_train=400, n_test=40)
    signs = rademacher.random_signs(raw, seed=3)
    bits = signs.train.labels
    assert signs.num_classes == 2 and set(np.unique(bits)) == {0, 1} and 0.4 < bits.mean() < 0.6
    prefix = sources.RawData("p", sources.Split(raw.train.images[:100], raw.train.labels[:100]), raw.test, 4, "x")
    np.testing.assert_array_equal(rademacher.random_signs(prefix, seed=3).train.labels, bits[:100])
    assert not np.array_equal(rademacher.random_signs(raw, seed=4).train.labels, bits)
    assert not np.array_equal(signs.test.labels, bits[:40])  # the test split has its own draw


def test_probe_trains_each_architecture_and_reports_two_accuracy_minus_one(tmp_path, monkeypatch):
    monkeypatch.setattr(rademacher, "ARCHITECTURES", (("mlp_1x512", True),))
    base = config.RunConfig(model="mlp_1x512", crop_size=8, batch_size=16, epochs=40, stop_when_fit=True,
                            results_dir=str(tmp_path), verbose=0).validate()
    (result,) = rademacher.run(base, raw=tiny_raw(n_train=48, n_test=16), learning_rate=0.05)
    assert result["status"] == "finished" and result["n"] == 48
    assert result["rademacher"] == pytest.approx(2 * result["train_accuracy"] - 1)
    assert result["rademacher"] > 0.9  # 1.2k-parameter inputs, 48 signs: the MLP fits them
    again = rademacher.run(base, raw=tiny_raw(n_train=48, n_test=16), learning_rate=0.05)
    assert again == [result]  # finished runs are read back, not retrained
    assert "| MLP 1x512 | 48 |" in rademacher.table([result])
