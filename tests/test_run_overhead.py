"""tools/run_overhead.py times a run's phases by wrapping the package's functions: each phase it names must be
the one the run went through (a call site that stopped going through the module attribute would read as 0 s)."""

import os
import sys

from conftest import REPO, needs_data

import rethink_tf
from rethink_tf import fitting

sys.path.insert(0, os.path.join(REPO, "tools"))
import run_overhead  # noqa: E402  (a script in tools/, imported for its functions)


@needs_data
def test_every_phase_of_a_run_is_seen_and_the_package_is_left_unwrapped(tmp_path):
    fit = fitting.fit
    config = rethink_tf.preset_config(
        "smoke", model="mlp_1x512", epochs=2, measures=True, results_dir=str(tmp_path), verbose=0
    )
    row = run_overhead.one_run(config)
    phases = [phase for phase, _, _ in run_overhead.PHASES if phase != "fit"]
    assert row["epochs"] == 2 and all(row[phase] > 0 for phase in phases), row
    assert row["beyond the epochs"] == row["total"] - row["epochs' time"] and row["beyond the epochs"] > 0
    assert fitting.fit is fit  # unwrapped afterwards
