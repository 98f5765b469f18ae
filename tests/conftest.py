"""Helpers shared by the test modules, so that no test module imports another.

Tests get them by name: `from conftest import REPO, needs_data, tiny_raw` (pytest puts tests/ on sys.path and
imports this file as the module `conftest`, so the import returns the same module). They are plain constants,
functions and a marker rather than fixtures because tests call them with arguments (a results dir, a config,
overrides) or at module level (`pytestmark = needs_data`, `ENV` of a subprocess); a subprocess that needs one runs
with PYTHONPATH=tests and imports it the same way.
"""

import dataclasses
import glob
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import preset_flags
import pytest
from absl import flags
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

from rethink_tf import callbacks, cli, config, records, settings, train
from rethink_tf.data import sources
from rethink_tf.experiments import runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The environment of the tests' command-line subprocesses: TensorFlow's start-up lines hidden.
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
# Tests that read the real Fashion-MNIST files (Debian's package); the others build their data in memory.
needs_data = pytest.mark.skipif(
    not os.path.exists(os.path.join(sources.FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")),
    reason="needs Debian's dataset-fashion-mnist",
)


# The slowest tests, by the CPU seconds each took (its own and its child processes') on the 2-core machine:
# `make test` (pytest -n 2) starts them first and hands out the rest one test at a time, so that its two workers
# end together instead of one of them starting a minutes-long test when the other is nearly done. A name missing
# or a number out of date costs time, never a result.
SLOW_FIRST = {
    "test_workers_and_a_ray_worker_killed_mid_run_end_every_run_with_the_bits_of_one_process": 147,
    "test_sigkill_mid_epoch_then_the_same_command_ends_bit_identical": 58,
    "test_benchmark_writes_rates_for_the_models_and_pipelines_asked": 57,
    "test_smoke_figure2_and_table4": 48,
    "test_tensorflow_start_up_lines_are_hidden_unless_the_variable_asks_for_them": 35,
    "test_mirrored_over_two_cpu_devices_matches_one_device": 32,
    "test_the_example_notebook_runs_a_randomization_test": 29,
    "test_sigterm_to_the_parent_stops_every_worker_and_their_runs_say_interrupted": 27,
    "test_the_report_ranks_recorded_measures_and_draws_them_against_p": 22,
    "test_smoke_figure1_png_and_its_series": 19,
    "test_smoke_grid_continues_after_interruption_and_reports": 16,
    "test_a_smoke_search_trains_each_trial_as_a_run_and_a_second_start_trains_nothing": 16,
    "test_tensorboards_hparams_table_has_one_row_per_run_with_the_records_finals": 16,
    "test_corrupt_backup_is_reported_not_used": 15,
    "test_cli_fits_random_labels_of_real_images_and_keeps_its_record": 15,
    "test_wheel_installs_and_runs_the_smoke_preset_from_another_directory": 14,
    "test_a_finished_run_gets_its_measures_into_its_record_and_tensorboard_without_retraining": 13,
}


def pytest_configure(config):
    # pytest-xdist's scheduler sends each worker chunks of consecutive tests unless told otherwise.
    if getattr(config.option, "maxschedchunk", "absent") is None:
        config.option.maxschedchunk = 1


def pytest_collection_modifyitems(items):
    """SLOW_FIRST's tests first, the slowest first; the others after them in their usual order."""
    items.sort(key=lambda item: -SLOW_FIRST.get(getattr(item, "originalname", item.name), 0))


def tiny_raw(n_train=96, n_test=48, classes=4, size=8):
    """Images whose brightest quadrant encodes the class, so a small MLP learns it quickly."""
    rng = np.random.default_rng(0)

    def split(n):
        labels = np.arange(n) % classes
        images = rng.integers(0, 60, size=(n, size, size, 1), dtype=np.uint8)
        half = size // 2
        for i, c in enumerate(labels):
            r, col = divmod(int(c), 2)
            images[i, r * half : (r + 1) * half, col * half : (col + 1) * half] += 150
        return sources.RawSplit(images, labels.astype(np.int64))

    return sources.RawData("tiny", split(n_train), split(n_test), classes, "in memory")


def tiny_config(tmp_path, **overrides):
    """A validated RunConfig of a small MLP on tiny_raw's 8x8 images, results under tmp_path."""
    values = dict(
        model="mlp_1x512",
        dataset="fashion_mnist",
        crop_size=8,
        batch_size=32,
        epochs=4,
        learning_rate=0.05,
        results_dir=str(tmp_path),
        verbose=0,
        measures=False,  # on where a test asks: they cost a tiny Inception-small run more than its training
    )
    values.update(overrides)
    return config.RunConfig(**values).validate()


def final_and_losses(record):
    return record["final"], [row["loss"] for row in record["epochs"]]


def weight_arrays(path):
    """(name, array) of every dataset in a Keras weights file, in file order."""
    arrays = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.append((name, obj[()])) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def all_weights(results_dir):
    """run name -> (name, array) of its final weights, for every run of a results dir."""
    return {
        os.path.basename(os.path.dirname(p)): weight_arrays(p)
        for p in glob.glob(os.path.join(str(results_dir), "*", records.WEIGHTS))
    }


def same_weights(a, b):
    return [n for n, _ in a] == [n for n, _ in b] and all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))


def interrupted_run(cfg, monkeypatch):
    """Trains cfg until the third epoch ends, then stops it as Ctrl-C would (before that epoch's record row and
    backup are saved); the callbacks are restored afterwards."""
    original = callbacks.GeneralizationGap.on_epoch_end

    def interrupt_after_two_epochs(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.GeneralizationGap, "on_epoch_end", interrupt_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        train.run(cfg, raw=tiny_raw())
    monkeypatch.setattr(callbacks.GeneralizationGap, "on_epoch_end", original)
    return cfg


def module_cli(module, results_dir, *flags):
    """`python -m module --results_dir=results_dir flags...`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, f"--results_dir={results_dir}", *flags],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
    )


def cli_in_process(monkeypatch, capsys, main, *args, doc="", groups=(), flag_values=None):
    """An entry point's `main` run on the command line `args` in this process, as app.run runs it in its own: the
    arguments parsed by the entry point's parser (cli.flags_parser: --help, a bad flag one line and exit 2) into
    flag_values (fresh ones unless given; cli.FLAGS for the call), then main. Returns (exit status, stdout, stderr).

    What only a fresh process shows (TensorFlow's start-up lines hidden, nothing else on stderr) is checked by
    one real command line per entry point; the other cases of a one-line error pass through the same code here
    without paying TensorFlow's import again. capsys holds what the program's Python code prints (this test
    process's own TensorFlow log lines are not the program's). The process settings are left alone (flags_parser
    would set them for a process that has not loaded TensorFlow), as are the signal handlers one_line_errors
    installs."""
    values = flag_values if flag_values is not None else flags.FlagValues()
    monkeypatch.setattr(cli, "FLAGS", values)
    monkeypatch.setattr(settings, "use_command_line_settings", lambda: True)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    capsys.readouterr()  # only what the call prints
    status = 0
    try:
        main(cli.flags_parser(doc, groups, values)(["prog", *args]))
    except SystemExit as e:
        status = e.code
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        values.unparse_flags()
    out = capsys.readouterr()
    return status, out.out, out.err


def train_in_process(monkeypatch, capsys, *args):
    """`python -m rethink_tf.train args` through cli_in_process: its flags, --help groups and main."""
    values = flags.FlagValues()
    cli.define_flags(values)
    return cli_in_process(
        monkeypatch, capsys, train.main, *args, doc=train.__doc__, groups=cli.RUN_GROUPS, flag_values=values
    )


def experiment_in_process(experiment, *args, engine=None):
    """What `python -m rethink_tf.experiments.NAME args` does once its flags are parsed, in this process: the base
    config and the experiment's options from the flags and preset, then runner.run_experiment (its runs not yet
    finished, trained here unless `engine` says where, then its report, returned). Its one-line errors: wrap it in
    one_line_exit. (--workers is not followed: a worker process would rerun this process's command line.)"""
    values = preset_flags.parsed(*args, options=experiment.options)
    options = dataclasses.asdict(cli.options(experiment.options, values)) if experiment.options else {}
    return runner.run_experiment(experiment, cli.from_flags(values), engine=engine, **options)


def one_line_exit(capsys, work):
    """work() inside cli.one_line_errors(), as every entry point runs its work: (exit status, stderr), the status
    0 if it returned. The signal handlers one_line_errors installs are put back."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    capsys.readouterr()
    status = 0
    try:
        with cli.one_line_errors():
            work()
    except SystemExit as e:
        status = e.code
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    return status, capsys.readouterr().err


def smoke_base(results_dir):
    """The smoke preset's base RunConfig, results under results_dir."""
    return preset_flags.base_config("--preset=smoke", f"--results_dir={results_dir}")


def fake_record(cfg, fit_epoch, test_accuracy, epochs=None, status=records.FINISHED, data=None, final=None, **fields):
    """A run record as train.run writes it, with the given curve and final numbers; `data` and `final` add to (or
    override) the data and final blocks, `fields` are further top-level keys (model, wall_time_s, ...)."""
    epochs = epochs or [
        {"epoch": e, "loss": 2.0 / e, "accuracy": min(1.0, e / (fit_epoch or 99))}
        for e in range(1, (fit_epoch or 5) + 1)
    ]
    record = records.new_record(
        cfg,
        status=status,
        epochs=epochs,
        data={"train_examples": 100, "num_classes": 10, **(data or {})},
        final={"fit_epoch": fit_epoch, "test_accuracy": test_accuracy, "epochs_run": len(epochs), **(final or {})},
        **fields,
    )
    os.makedirs(cfg.run_dir, exist_ok=True)
    records.save(cfg, record)


class Events:
    """A run directory's events as TensorBoard's EventAccumulator reads them."""

    def __init__(self, run_dir):
        self.acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.TENSORS: 0})
        self.acc.Reload()
        self.tags = set(self.acc.Tags()[event_accumulator.TENSORS])

    def series(self, tag):
        return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in self.acc.Tensors(tag)]

    def content(self, tag):
        return self.acc.SummaryMetadata(tag).plugin_data.content

    def experiment(self):
        return hparams_metadata.parse_experiment_plugin_data(self.content(hparams_metadata.EXPERIMENT_TAG))

    def session_start(self):
        return hparams_metadata.parse_session_start_info_plugin_data(
            self.content(hparams_metadata.SESSION_START_INFO_TAG)
        )

    def session_end(self):
        return hparams_metadata.parse_session_end_info_plugin_data(self.content(hparams_metadata.SESSION_END_INFO_TAG))
