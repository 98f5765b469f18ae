"""TensorFlow loaded without its start-up lines on stderr, unless TF_CPP_MIN_LOG_LEVEL is set.

TensorFlow's C++ log lines before absl::InitializeLog (oneDNN, CUDA drivers) ignore TF_CPP_MIN_LOG_LEVEL (an
Abseil bug), so the import runs with stderr sent to a file that is shown only if the import fails; later
lines (cuInit, NodeDef attributes) are hidden by TF_CPP_MIN_LOG_LEVEL=3. Set TF_CPP_MIN_LOG_LEVEL=0 to see all.
"""

from __future__ import annotations

import os
import sys
import tempfile

VARIABLE = "TF_CPP_MIN_LOG_LEVEL"


def import_tensorflow() -> None:
    """Imports TensorFlow, quietly unless the user set TF_CPP_MIN_LOG_LEVEL (then as TensorFlow does)."""
    if "tensorflow" in sys.modules or VARIABLE in os.environ:
        import tensorflow  # noqa: F401

        return
    os.environ[VARIABLE] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
