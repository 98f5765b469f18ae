"""TensorFlow loaded without its start-up lines on stderr, unless TF_CPP_MIN_LOG_LEVEL is set by the user.

TensorFlow's C++ log lines before absl::InitializeLog (oneDNN, CUDA drivers) ignore TF_CPP_MIN_LOG_LEVEL (an
Abseil bug), so the first import of tensorflow after rethink_tf's runs with stderr sent to a file that is shown
only if the import fails; later lines (cuInit, NodeDef attributes) are hidden by TF_CPP_MIN_LOG_LEVEL=3. No
setting of TensorFlow's does the first, hence this module. TF_CPP_MIN_LOG_LEVEL=0 shows everything.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import tempfile

VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
# Says that rethink_tf, not the user, set VARIABLE, so that a child process is quiet too.
_OURS = "RETHINK_TF_QUIET_TENSORFLOW"


def quiet_requested() -> bool:
    """True unless the user set TF_CPP_MIN_LOG_LEVEL themselves."""
    return VARIABLE not in os.environ or os.environ.get(_OURS) == "1"


class _QuietLoader(importlib.abc.Loader):
    """Runs tensorflow's own loader with file descriptor 2 redirected to a temporary file."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def __getattr__(self, name: str):  # is_package, get_resource_reader, ...: the wrapped loader's
        if name == "loader":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            except BaseException:
                os.dup2(saved, 2)
                captured.seek(0)
                sys.stderr.write(captured.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds tensorflow as Python would, once, and hands it _QuietLoader."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def hide_tensorflow_start_up() -> None:
    """Makes the process's first import of tensorflow quiet (see the module's docstring); no-op if the user set
    TF_CPP_MIN_LOG_LEVEL or tensorflow is loaded already."""
    if "tensorflow" in sys.modules or not quiet_requested():
        return
    os.environ[VARIABLE], os.environ[_OURS] = "3", "1"
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
