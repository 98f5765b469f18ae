"""rethink_tf: Zhang et al., "Understanding deep learning requires rethinking generalization", in TensorFlow.

From Python (rethink_tf/api.py; each function's docstring says more):

    import rethink_tf
    rethink_tf.use_command_line_settings()  # optional, first: TensorFlow as the command line runs it
    record = rethink_tf.run(preset="smoke", corruption="random_labels", results_dir="results/nb")
    table = rethink_tf.dataframe("results/nb")  # pandas, one row per run; rethink_tf.load: the records
    print(rethink_tf.build_report("table1", "results/laptop/table1"))

Importing the package loads no TensorFlow and changes nothing of the process (environment variables, import
machinery), except when it is the program: `python -m rethink_tf.<entry point>` gets the command line's settings
here, before its module imports TensorFlow (rethink_tf/settings.py).
"""

import sys as _sys

from rethink_tf.version import __version__

if _sys.argv[:1] == ["-m"]:  # cheap test first: only while `python -m` looks its module up
    from rethink_tf import settings as _settings

    if _settings.run_as_program():
        _settings.use_command_line_settings()

from rethink_tf.api import (  # noqa: E402
    RunConfig,
    build_report,
    dataframe,
    forget_kept,
    load,
    load_ledger,
    preset_config,
    run,
    use_command_line_settings,
)

__all__ = [
    "__version__",
    "RunConfig",
    "build_report",
    "dataframe",
    "forget_kept",
    "load",
    "load_ledger",
    "preset_config",
    "run",
    "use_command_line_settings",
]
