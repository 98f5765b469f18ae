"""The package's shape: data flows one way (no module below config imports it, or anything above it), every
experiment has the same parts, and `python -m rethink_tf.report NAME DIR` knows each of them."""

import ast
import importlib
import os

import pytest
from conftest import REPO, cli_in_process

from rethink_tf import config, errors, experiments, report
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


def test_report_of_an_unknown_experiment_or_a_missing_dir_is_one_line(tmp_path, monkeypatch, capsys):
    # The report's parser and main in this process; `python -m rethink_tf.report` itself, a process printing its
    # usage line and nothing else, is run by tests/test_train.py's start-up test.
    for args, expected in (
        (["bogus", str(tmp_path)], "no experiment 'bogus'"),
        (["table1", str(tmp_path / "absent")], "is not a directory"),
        ([], "usage:"),
    ):
        status, _, err = cli_in_process(monkeypatch, capsys, report.main, *args, doc=report.__doc__)
        assert status == 2 and len(err.strip().splitlines()) == 1 and expected in err, err[-2000:]


def package_modules(root, package="rethink_tf"):
    """Module name -> file of every module of the package under root (root/package/...)."""
    out = {}
    for folder, _, files in os.walk(os.path.join(root, package)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path[:-3], root).replace(os.sep, ".")
                out[module.removesuffix(".__init__")] = path
    return out


def import_graph(root, package="rethink_tf"):
    """Module -> the package's modules it imports anywhere in its file (function-level imports included).
    `from p import x` is an edge to p.x when x is a submodule, else to p; relative imports are resolved."""
    modules = package_modules(root, package)
    graph = {}
    for module, path in modules.items():
        here = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name in modules}
            elif isinstance(node, ast.ImportFrom):
                base = here.rsplit(".", node.level - 1)[0] if node.level else ""
                source = ".".join(p for p in (base, node.module) if p)
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        edges.add(f"{source}.{alias.name}")
                    elif source in modules:
                        edges.add(source)
        graph[module] = edges - {module}
    return graph


def import_cycles(graph):
    """Shortest import cycles, each a list of modules ending where it starts, together passing through every
    module of every strongly connected component (so every module caught in a cycle is named)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):  # Tarjan's algorithm; the package is shallow enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while v not in component:
                component.add(stack.pop())
            on_stack.difference_update(component)
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:
        named = set()
        for start in sorted(component):
            if start in named:
                continue
            paths, seen = [[start]], {start}
            while paths:  # breadth first within the component: the shortest way back to start
                path = paths.pop(0)
                if start in graph[path[-1]] and len(path) > 1:
                    cycles.append([*path, start])
                    named.update(path)
                    break
                for w in sorted(graph[path[-1]] & component - seen):
                    seen.add(w)
                    paths.append([*path, w])
    return sorted(cycles)


def test_the_package_has_no_import_cycle():
    cycles = import_cycles(import_graph(REPO))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_import_graph_sees_relative_function_level_and_from_package_imports(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\n",
        "pkg/b.py": "def f():\n    from .sub import c\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from ..a import name\nimport pkg.d\n",
        "pkg/d.py": "from pkg import VERSION\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(str(tmp_path), "pkg")
    assert graph["pkg.b"] == {"pkg.sub.c"} and graph["pkg.sub.c"] == {"pkg.a", "pkg.d"} and graph["pkg.d"] == {"pkg"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


# Errors of the package that do not mean bad input, and why; every other exception class it defines must derive
# from errors.BadInput, so that an entry point ends with its one line and status 2 (cli.one_line_errors).
NOT_BAD_INPUT = {
    "rethink_tf.experiments.ray_engine.RunFailedError": "a run failed on the cluster: its traceback, not a usage line",
    "rethink_tf.run_record.FormatError": "internal: records.read_record raises it again as RunDirError",
}


def package_exceptions():
    """(qualified name, class) of every exception class a module of the package defines."""
    found = {}
    for module in sorted(package_modules(REPO)):
        if module.endswith("__main__"):
            continue
        for value in vars(importlib.import_module(module)).values():
            if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == module:
                found[f"{module}.{value.__qualname__}"] = value
    return found


def test_every_error_meaning_bad_input_derives_from_bad_input():
    found = package_exceptions()
    assert {"rethink_tf.config.ConfigError", "rethink_tf.cli.UsageError", "rethink_tf.records.RunDirError"} <= set(
        found
    )
    wrong = sorted(n for n, cls in found.items() if not issubclass(cls, errors.BadInput) and n not in NOT_BAD_INPUT)
    assert not wrong, f"{wrong} do not derive from rethink_tf.errors.BadInput (or say in NOT_BAD_INPUT why not)"
    misfiled = sorted(name for name in NOT_BAD_INPUT if name in found and issubclass(found[name], errors.BadInput))
    assert not misfiled, f"{misfiled} derive from BadInput yet are listed as not bad input"
