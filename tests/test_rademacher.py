"""The Rademacher probe: each architecture trained on random signs, and the estimate 2 * accuracy - 1."""

import dataclasses

import pytest
from conftest import tiny_raw

from rethink_tf import config, records
from rethink_tf.experiments import rademacher, runner


def test_probe_trains_each_architecture_and_reports_two_accuracy_minus_one(tmp_path, monkeypatch):
    monkeypatch.setattr(rademacher, "ARCHITECTURES", (("mlp_1x512", True),))
    base = config.RunConfig(
        model="mlp_1x512",
        crop_size=8,
        batch_size=16,
        epochs=40,
        stop_when_fit=True,
        learning_rate=0.05,
        results_dir=str(tmp_path),
        verbose=0,
    ).validate()
    text = runner.run_experiment(rademacher.EXPERIMENT, base, raw=tiny_raw(n_train=48, n_test=16))
    (result,) = rademacher.results(records.load_all(str(tmp_path)))
    assert result["status"] == "finished" and result["n"] == 48 and "random_signs" in result["run_name"]
    assert result["rademacher"] == pytest.approx(2 * result["train_accuracy"] - 1)
    assert result["rademacher"] > 0.9  # 1.2k-parameter inputs, 48 signs: the MLP fits them
    assert "| MLP 1x512 | 48 |" in text and text == (tmp_path / "rademacher.md").read_text()
    started = records.load_all(str(tmp_path))[0]["started"]
    again = runner.run_experiment(rademacher.EXPERIMENT, base, raw=tiny_raw(n_train=48, n_test=16))
    assert again == text and records.load_all(str(tmp_path))[0]["started"] == started  # read back, not retrained
    other = dataclasses.replace(base, learning_rate=None)  # the model's own rate: another config, refused
    with pytest.raises(records.RunDirError, match="different config.*learning_rate"):
        runner.run_experiment(rademacher.EXPERIMENT, other, raw=tiny_raw(n_train=48, n_test=16))
