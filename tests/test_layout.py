"""The package's shape: data flows one way (no module below config imports it, or anything above it), every
experiment has the same parts, and `python -m rethink_tf.report NAME DIR` knows each of them."""

import ast
import os
import subprocess
import sys

import pytest
from conftest import REPO

from rethink_tf import config, experiments
from rethink_tf.data import corrupt

PACKAGE = os.path.join(REPO, "rethink_tf")
UPWARD = (
    "rethink_tf.config",
    "rethink_tf.cli",
    "rethink_tf.runs",
    "rethink_tf.train",
    "rethink_tf.experiments",
    "rethink_tf.report",
)


def imports(path):
    """Every module a file imports, `from rethink_tf import x` read as rethink_tf.x."""
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return out


def modules(subpackage):
    folder = os.path.join(PACKAGE, subpackage)
    return [os.path.join(folder, name) for name in sorted(os.listdir(folder)) if name.endswith(".py")]


@pytest.mark.parametrize("path", modules("data") + modules("models"), ids=os.path.basename)
def test_data_and_models_import_nothing_above_them(path):
    upward = sorted(m for m in imports(path) if m.startswith(UPWARD))
    assert not upward, f"{os.path.relpath(path, REPO)} imports {upward}"


def test_config_imports_nothing_of_the_package_but_its_errors():
    assert not [
        m
        for m in imports(os.path.join(PACKAGE, "config.py"))
        if m.startswith("rethink_tf") and not m.startswith("rethink_tf.errors")
    ]


def test_only_the_command_line_reads_flags():
    readers = sorted(
        os.path.relpath(path, REPO)
        for sub in ("", "data", "models", "experiments", "theory")
        for path in modules(sub)
        if "FLAGS" in open(path).read()
    )
    assert readers == ["rethink_tf/cli.py"]


def test_configs_all_labels_corruptions_are_the_data_packages():
    assert config.ALL_LABELS_CORRUPTIONS == corrupt.ALL_LABELS_CORRUPTIONS


@pytest.mark.parametrize("name", experiments.NAMES)
def test_every_experiment_has_one_shape(name):
    experiment = experiments.get(name)
    assert experiment.name == name and callable(experiment.report) and callable(experiment.runs)
    source = open(os.path.join(PACKAGE, "experiments", f"{name}.py")).read()
    assert 'if __name__ == "__main__":\n    runner.main(EXPERIMENT, __doc__)' in source


def test_report_of_an_unknown_experiment_or_a_missing_dir_is_one_line(tmp_path):
    for args, expected in (
        (["bogus", str(tmp_path)], "no experiment 'bogus'"),
        (["table1", str(tmp_path / "absent")], "is not a directory"),
        ([], "usage:"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "rethink_tf.report", *args], capture_output=True, text=True, cwd=REPO, timeout=300
        )
        assert result.returncode == 2 and expected in result.stderr.splitlines()[-1], result.stderr[-2000:]
