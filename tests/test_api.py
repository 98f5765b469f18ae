"""The Python API (rethink_tf/api.py) and the process settings: `import rethink_tf` changes nothing of the process
and loads no TensorFlow, the command line still runs with oneDNN on, and a notebook asks for it."""

import os
import subprocess
import sys

import pandas
import pytest
from conftest import REPO, tiny_config, tiny_raw

import rethink_tf
from rethink_tf import config, records

# The tests' subprocesses: none of the variables the command line sets, as in a fresh notebook.
CLEAN_ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL", "RETHINK_TF_QUIET_TENSORFLOW")
}


def python(*args, env=CLEAN_ENV, timeout=300):
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_import_changes_no_environment_variable_nor_import_machinery_and_loads_no_tensorflow():
    code = (
        "import os, sys; env, finders = dict(os.environ), list(sys.meta_path)\n"
        "import rethink_tf, rethink_tf.api\n"
        "print(dict(os.environ) == env, sys.meta_path == finders, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    assert python("-c", code).stdout.split() == ["True", "True", "False", "False"]


def test_the_api_is_the_packages_top():
    for name in ("run", "preset_config", "load", "dataframe", "build_report", "use_command_line_settings"):
        assert callable(getattr(rethink_tf, name)) and getattr(rethink_tf, name).__doc__, name
    assert rethink_tf.RunConfig is config.RunConfig
    from rethink_tf.version import __version__

    assert rethink_tf.__version__ == __version__


# Run at start-up (PYTHONPATH): writes TF_ENABLE_ONEDNN_OPTS as it is when the program first imports tensorflow.
AUDIT_HOOK = """import os, sys
def _hook(event, args):
    if event == "import" and args[0] == "tensorflow" and "tensorflow" not in sys.modules:
        with open({out!r}, "a") as f:
            f.write(os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset") + "\\n")
sys.addaudithook(_hook)
"""


def test_every_entry_point_has_onednn_set_before_tensorflow_loads(tmp_path):
    # The entry points import TensorFlow at module level, before cli.flags_parser: rethink_tf/__init__.py sets it,
    # which Python runs before any module of the package, for every `python -m rethink_tf...` alike
    # (settings.run_as_program). One entry point, a nested one, stands for all: each other would be a TensorFlow
    # start-up of its own; `python -m rethink_tf.train` is tests/test_train.py's smoke run.
    module = "rethink_tf.experiments.tune"
    out = tmp_path / "onednn.txt"
    (tmp_path / "sitecustomize.py").write_text(AUDIT_HOOK.format(out=str(out)))
    env = {**CLEAN_ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), REPO])}
    python("-m", module, "--help", env=env)
    assert out.read_text().split() == ["1"]


# The command line trains with oneDNN where TensorFlow has it: tests/test_train.py's smoke run on the command line
# (one TensorFlow start-up for both), from an environment without the command line's variables, as here.


def test_settings_asked_for_after_tensorflow_loaded_say_so_in_one_line():
    code = (
        "import tensorflow, rethink_tf; from rethink_tf import records\n"
        "print(rethink_tf.use_command_line_settings(), records.onednn_enabled())"
    )
    done = python("-c", code)
    ok, running = done.stdout.split()
    warnings = [line for line in done.stderr.splitlines() if line.startswith("rethink_tf: warning:")]
    if running == "True":  # this CPU's default is oneDNN on: nothing differs from the command line
        assert ok == "True" and not warnings
    else:
        assert ok == "False" and len(warnings) == 1 and "restart" in warnings[0], done.stderr[-2000:]


def test_preset_config_is_the_command_lines():
    smoke = rethink_tf.preset_config("smoke", model="mlp_1x512", epochs=3, results_dir="somewhere")
    assert (smoke.preset, smoke.train_size, smoke.test_size, smoke.measures) == ("smoke", 128, 128, False)
    assert (smoke.model, smoke.epochs, smoke.results_dir) == ("mlp_1x512", 3, "somewhere")  # given fields win
    assert smoke.learning_rate is None  # the model's own, filled in by run() as by the command line
    for bad, match in (({"preset": "bogus"}, "no preset"), ({"epoch": 3}, "no RunConfig field epoch")):
        with pytest.raises(config.ConfigError, match=match):
            rethink_tf.preset_config(**bad)
    with pytest.raises(config.ConfigError, match="--model"):
        rethink_tf.preset_config("smoke", model="bogus")


def test_run_load_dataframe_and_report_from_python(tmp_path):
    true = rethink_tf.run(tiny_config(tmp_path, epochs=2, run_name="true"), raw=tiny_raw())
    random = rethink_tf.run(
        tiny_config(tmp_path, run_name="random"), corruption="random_labels", epochs=2, raw=tiny_raw()
    )
    assert true["status"] == random["status"] == records.FINISHED
    assert rethink_tf.run(tiny_config(tmp_path, epochs=2, run_name="true"), raw=tiny_raw()) == true  # finished

    loaded = rethink_tf.load(str(tmp_path))
    assert [r["run_name"] for r in loaded] == ["random", "true"] and loaded[1]["final"] == true["final"]

    table = rethink_tf.dataframe(tmp_path)
    assert isinstance(table, pandas.DataFrame) and list(table["run_name"]) == ["random", "true"]
    assert list(table["corruption"]) == ["random_labels", "true_labels"] and list(table["epochs_done"]) == [2, 2]
    row = table.set_index("run_name").loc["true"]
    assert row["test_accuracy"] == true["final"]["test_accuracy"] and row["wall_time_s"] == true["wall_time_s"]
    assert row["version"] == rethink_tf.__version__ and row["learning_rate"] == 0.05
    assert rethink_tf.dataframe(loaded).equals(table)
    assert rethink_tf.dataframe(str(tmp_path / "none")).empty

    text = rethink_tf.build_report("figure1", str(tmp_path))
    assert "MLP 1x512" in text and (tmp_path / "figure1.png").exists()  # built from the records, as on the CLI
    with pytest.raises(ValueError, match="no experiment 'bogus'"):
        rethink_tf.build_report("bogus", str(tmp_path))
