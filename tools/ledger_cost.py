"""What the per-example ledger costs a run's epoch, per model: the same laptop-preset run trained with --ledger and
--noledger, alternately in one process, and the median epoch time of each (the record's epoch_time_s, which
includes the ledger's prediction pass and its save).

    python tools/ledger_cost.py --models=mlp_1x512,alexnet_small --epochs=4 --rounds=2

Prints one Markdown row per model: seconds per epoch without and with the ledger (the median, and the fastest epoch,
which other load on the machine disturbs least), their ratios, and the ledger's file size per recorded epoch.
docs/ledger.md keeps the figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rethink_tf  # noqa: E402  (sets TensorFlow's environment before it loads)
from rethink_tf import ledger  # noqa: E402

_MODELS = flags.DEFINE_list(
    "models", "mlp_1x512,mlp_3x512,alexnet_small,inception_small,inception_small_nobn", "Models (_nobn: no BN)."
)
_EPOCHS = flags.DEFINE_integer("epochs", 4, "Epochs per run (the first is left out of the median: tracing).")
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Runs of each setting, alternating with and without the ledger.")
_PRESET = flags.DEFINE_string("preset", "laptop", "The preset the runs take their sizes from.")


def epoch_times(model: str, with_ledger: bool, round_: int, results_dir: str) -> tuple[list[float], int]:
    """Epoch seconds after the first, and the ledger's size in bytes (0 without it)."""
    name, batch_norm = (model[: -len("_nobn")], False) if model.endswith("_nobn") else (model, True)
    config = rethink_tf.preset_config(
        _PRESET.value,
        model=name,
        batch_norm=batch_norm,
        epochs=_EPOCHS.value,
        stop_when_fit=False,
        measures=False,
        ledger=with_ledger,
        results_dir=results_dir,
        run_name=f"{model}-{'ledger' if with_ledger else 'noledger'}-{round_}",
        verbose=0,
    )
    record = rethink_tf.run(config)
    size = os.path.getsize(ledger.path(config.run_dir)) if with_ledger else 0
    return [row["epoch_time_s"] for row in record["epochs"][1:]], size


def main(argv: list[str]) -> None:
    del argv
    print("| model | s/epoch without (median, min) | with ledger | ratio (median, min) | ledger bytes/epoch |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as results_dir:
        for model in _MODELS.value:
            times: dict[bool, list[float]] = {False: [], True: []}
            size = 0
            for round_ in range(_ROUNDS.value):
                for with_ledger in (False, True):
                    seconds, bytes_ = epoch_times(model, with_ledger, round_, results_dir)
                    times[with_ledger] += seconds
                    size = max(size, bytes_)
            without, with_ = statistics.median(times[False]), statistics.median(times[True])
            fastest, fastest_with = min(times[False]), min(times[True])
            print(
                f"| {model} | {without:.3f}, {fastest:.3f} | {with_:.3f}, {fastest_with:.3f} | "
                f"{with_ / without:.2f}, {fastest_with / fastest:.2f} | {size / _EPOCHS.value:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    app.run(main)
