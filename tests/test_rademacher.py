"""The Rademacher probe: each architecture trained on random signs, and the estimate 2 * accuracy - 1."""

import pytest

from rethink_tf import config, rademacher
from test_train import tiny_raw


def test_probe_trains_each_architecture_and_reports_two_accuracy_minus_one(tmp_path, monkeypatch):
    monkeypatch.setattr(rademacher, "ARCHITECTURES", (("mlp_1x512", True),))
    base = config.RunConfig(model="mlp_1x512", crop_size=8, batch_size=16, epochs=40, stop_when_fit=True,
                            results_dir=str(tmp_path), verbose=0).validate()
    (result,) = rademacher.run(base, raw=tiny_raw(n_train=48, n_test=16), learning_rate=0.05)
    assert result["status"] == "finished" and result["n"] == 48 and "random_signs" in result["run_name"]
    assert result["rademacher"] == pytest.approx(2 * result["train_accuracy"] - 1)
    assert result["rademacher"] > 0.9  # 1.2k-parameter inputs, 48 signs: the MLP fits them
    again = rademacher.run(base, raw=tiny_raw(n_train=48, n_test=16), learning_rate=0.05)
    assert again == [result]  # finished runs are read back, not retrained
    assert "| MLP 1x512 | 48 |" in rademacher.table([result])
