"""One run end to end on tiny in-memory data: the record, TensorBoard, determinism, resume, bad input."""

import dataclasses
import glob
import json
import os
import platform
import subprocess
import sys

import numpy as np
import preset_flags
import pytest
import tensorflow as tf
from conftest import (
    REPO,
    final_and_losses,
    interrupted_run,
    needs_data,
    tiny_config,
    tiny_raw,
    train_in_process,
    weight_arrays,
)

from rethink_tf import callbacks, config, records, runs, train
from rethink_tf.data import sources


def test_run_writes_its_record_and_events(tmp_path):
    cfg = tiny_config(tmp_path, epochs=3)
    record = train.run(cfg, raw=tiny_raw())
    on_disk = records.read_record(cfg.run_dir)
    assert on_disk["status"] == records.FINISHED == record["status"]
    assert on_disk["experiment"] == cfg.experiment()
    assert [row["epoch"] for row in on_disk["epochs"]] == [1, 2, 3]
    lrs = [row["learning_rate"] for row in on_disk["epochs"]]
    np.testing.assert_allclose(lrs, [0.05, 0.05 * 0.95, 0.05 * 0.95**2], rtol=1e-5)
    for row in on_disk["epochs"]:
        assert row["generalization_gap"] == pytest.approx(row["accuracy"] - row["val_accuracy"])
    final = on_disk["final"]
    assert final["train_accuracy"] > 0.5 and final["test_accuracy"] > 0.5  # the task is learnable
    assert set(on_disk["data"]["fingerprints"]) >= {"source", "train_labels", "train_images"}
    assert on_disk["model"]["param_count"] == 8 * 8 * 3 * 512 + 512 + 512 * 4 + 4
    assert on_disk["model"]["paper_param_count"] is None  # the paper's count is for 28x28x3 and 10 classes
    assert on_disk["environment"]["tensorflow"] == tf.__version__ and "tensorflow" not in on_disk["versions"]
    assert records.claim_holder(cfg.run_dir) is None
    assert not os.path.exists(os.path.join(cfg.run_dir, records.BACKUP))

    assert glob.glob(os.path.join(cfg.run_dir, records.EVENTS + "*"))  # TensorBoard's: tests/test_tensorboard.py


def test_epoch_caps_of_crop_and_random_label_runs_and_curves_use_a_test_subset(tmp_path):
    raw = tiny_raw()
    crop = train.run(tiny_config(tmp_path, random_crop=True, crop_epochs=2, curve_test_size=8), raw=raw)
    assert [row["epoch"] for row in crop["epochs"]] == [1, 2]
    assert crop["data"]["curve_test_examples"] == 8 and crop["data"]["test_examples"] == 48
    for row in crop["epochs"]:  # the curves test 8 examples (4 classes x 2) ...
        assert (row["val_accuracy"] * 8) == pytest.approx(round(row["val_accuracy"] * 8))
    plain = train.run(tiny_config(tmp_path, crop_epochs=2, random_label_epochs=3), raw=raw)  # only caps its own runs
    assert len(plain["epochs"]) == 4 and plain["data"]["curve_test_examples"] == 48
    random = train.run(tiny_config(tmp_path, corruption="random_labels", random_label_epochs=3), raw=raw)
    assert len(random["epochs"]) == 3


def final_weights(cfg):
    return weight_arrays(os.path.join(cfg.run_dir, records.WEIGHTS))


def test_same_flags_same_numbers(tmp_path):
    cfgs = [tiny_config(tmp_path / d, random_crop=True, corrupt=0.5, seed=s) for d, s in (("a", 0), ("b", 0), ("c", 1))]
    a, b, c = (train.run(cfg, raw=tiny_raw()) for cfg in cfgs)
    assert final_and_losses(a) == final_and_losses(b)
    wa, wb = final_weights(cfgs[0]), final_weights(cfgs[1])
    assert len(wa) >= 4 and [n for n, _ in wa] == [n for n, _ in wb]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(wa, wb))  # bit-identical
    assert a["data"]["fingerprints"] == b["data"]["fingerprints"]
    assert final_and_losses(a) != final_and_losses(c)


def test_steps_per_execution_changes_no_number(tmp_path):
    # 3 steps an epoch: one call per step, two calls of 2 and 1 steps, one call of all 3
    runs = {spe: tiny_config(tmp_path / str(spe), corrupt=0.5, steps_per_execution=spe) for spe in (1, 2, 16)}
    results = {spe: train.run(cfg, raw=tiny_raw()) for spe, cfg in runs.items()}
    weights = {spe: final_weights(cfg) for spe, cfg in runs.items()}
    for spe in (2, 16):
        assert final_and_losses(results[spe]) == final_and_losses(results[1])
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(weights[spe], weights[1]))
    # so it is not part of the experiment: the run is the same run whatever it is set to
    again = dataclasses.replace(runs[1], steps_per_execution=16)
    assert train.run(again, raw=tiny_raw())["started"] == results[1]["started"]


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_with_float32_weights_in_its_own_run_dir(tmp_path, precision):
    import keras

    mixed = train.run(tiny_config(tmp_path, precision=precision, corrupt=0.5), raw=tiny_raw())
    full = train.run(tiny_config(tmp_path, corrupt=0.5), raw=tiny_raw())
    assert mixed["run_name"].endswith(f"-{precision}-seed0") and mixed["run_name"] != full["run_name"]
    assert mixed["config"]["precision"] == precision and mixed["status"] == records.FINISHED
    assert 0 <= mixed["final"]["train_accuracy"] <= 1 and np.isfinite(mixed["final"]["train_loss"])
    assert final_and_losses(mixed) != final_and_losses(full)  # computed in 16 bits
    weights = dict(final_weights(tiny_config(tmp_path, precision=precision, corrupt=0.5)))
    assert all(w.dtype == np.float32 for name, w in weights.items() if name.startswith("layers/"))
    # float16 gets Keras' dynamic loss scaling: an optimizer wrapped around SGD's
    assert any(name.startswith("optimizer/inner_optimizer/") for name in weights) == (precision == "mixed_float16")
    assert keras.config.dtype_policy().name == "float32"  # put back after the run


@pytest.mark.parametrize("setting, onednn", [(None, True), ("0", False)])
def test_record_says_whether_onednn_ran(setting, onednn):
    # The command line's settings set TF_ENABLE_ONEDNN_OPTS=1 unless it is set (TensorFlow's default depends on the CPU)
    code = "import rethink_tf; rethink_tf.use_command_line_settings(); import tensorflow"
    code += "; from rethink_tf import records; print(records.versions()['onednn'])"
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(onednn)]


def test_backup_that_does_not_fit_the_model_is_refused_with_the_fix(tmp_path):
    import keras

    from rethink_tf import models

    class Killed(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("killed")  # after epoch 1's backup, which fit then leaves behind

    def build(dense):
        inputs = keras.Input((6,))
        model = keras.Model(inputs, dense(3)(inputs))
        model.compile(optimizer="sgd", loss="mse")
        return model

    x, y, backup_dir = np.zeros((8, 6), np.float32), np.zeros((8, 3), np.float32), str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="killed"):  # a kernel [6, 3]
        build(keras.layers.Dense).fit(
            x, y, epochs=2, verbose=0, callbacks=[callbacks.AtomicBackupAndRestore(backup_dir), Killed()]
        )
    with pytest.raises(records.RunDirError, match=r"does not fit this model.*\(3, 6\).*Remove .*backup to train"):
        build(models.Dense).fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.AtomicBackupAndRestore(backup_dir)])


def test_finished_run_is_not_repeated(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    first = train.run(cfg, raw=tiny_raw())
    again = train.run(cfg, raw=tiny_raw())
    assert again["started"] == first["started"] and again["wall_time_s"] == first["wall_time_s"]


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    whole = train.run(tiny_config(tmp_path / "whole"), raw=tiny_raw())
    cfg = interrupted_run(tiny_config(tmp_path / "cut"), monkeypatch)
    cut = records.read_record(cfg.run_dir)
    assert cut["status"] == records.INTERRUPTED and len(cut["epochs"]) == 2
    assert records.claim_holder(cfg.run_dir) is None

    resumed = train.run(cfg, raw=tiny_raw())
    assert resumed["status"] == records.FINISHED and len(resumed["resumed"]) == 1
    assert [row["epoch"] for row in resumed["epochs"]] == [1, 2, 3, 4]
    assert final_and_losses(resumed) == final_and_losses(whole)


def test_a_kill_between_the_backup_renames_resumes_from_the_complete_new_backup(tmp_path, monkeypatch):
    whole = train.run(tiny_config(tmp_path / "whole"), raw=tiny_raw())
    cfg = tiny_config(tmp_path / "cut")
    original = callbacks.RunRecordWriter.on_epoch_begin

    def interrupt_epoch_three(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt
        original(self, epoch, logs)

    monkeypatch.setattr(callbacks.RunRecordWriter, "on_epoch_begin", interrupt_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        train.run(cfg, raw=tiny_raw())
    monkeypatch.setattr(callbacks.RunRecordWriter, "on_epoch_begin", original)
    backup = os.path.join(cfg.run_dir, records.BACKUP)
    os.rename(backup, backup + ".new")  # epoch 2's backup, complete; the old one moved aside, not yet deleted
    os.makedirs(backup + ".old")
    cut = records.read_record(cfg.run_dir)
    resumed = train.run(cfg, raw=tiny_raw())
    assert resumed["epochs"][:2] == cut["epochs"]  # epochs 1-2 not trained again (their timings kept)
    assert [row["epoch"] for row in resumed["epochs"]] == [1, 2, 3, 4]
    assert final_and_losses(resumed) == final_and_losses(whole)
    assert not os.path.exists(backup + ".new") and not os.path.exists(backup + ".old")


def test_run_dir_of_another_config_is_refused_untouched(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1, run_name="mine")
    train.run(cfg, raw=tiny_raw())
    path = os.path.join(cfg.run_dir, records.RECORD)
    before = open(path, "rb").read()
    with pytest.raises(records.RunDirError, match="different config.*learning_rate"):
        train.run(dataclasses.replace(cfg, learning_rate=0.5), raw=tiny_raw())
    assert open(path, "rb").read() == before


def test_unfinished_run_of_another_version_is_refused_untouched(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    train.run(cfg, raw=tiny_raw())
    path = os.path.join(cfg.run_dir, records.RECORD)
    record = json.load(open(path))
    record["status"], record["versions"]["rethink_tf"] = records.INTERRUPTED, "0.1.0"
    with open(path, "w") as f:
        json.dump(record, f)
    before = open(path, "rb").read()
    with pytest.raises(records.RunDirError, match=r"started by rethink_tf 0\.1\.0, whose numbers differ .*move the"):
        train.run(cfg, raw=tiny_raw())
    assert open(path, "rb").read() == before
    record["status"] = records.FINISHED  # a finished run of another version is kept and returned as it is
    with open(path, "w") as f:
        json.dump(record, f)
    assert train.run(cfg, raw=tiny_raw())["versions"]["rethink_tf"] == "0.1.0"


def hold_claim(run_dir):
    """A live process that holds run_dir's claim (the lock on claim.json) until it is killed."""
    code = (
        "import fcntl, json, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, json.dumps({'pid': os.getpid(), 'host': 'elsewhere'}).encode()); "
        "print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, os.path.join(run_dir, records.CLAIM)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "held\n"
    return holder


def test_live_claim_is_refused_and_a_killed_owners_claim_taken_over(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    os.makedirs(cfg.run_dir)
    holder = hold_claim(cfg.run_dir)
    try:
        with pytest.raises(records.RunBusyError, match=f"being trained by pid {holder.pid} on elsewhere"):
            train.run(cfg, raw=tiny_raw())
    finally:
        holder.kill()  # SIGKILL: no clean-up, the kernel drops the lock
        holder.wait()
    assert train.run(cfg, raw=tiny_raw())["status"] == records.FINISHED
    assert records.claim_holder(cfg.run_dir) is None


def test_foreign_files_are_refused_but_another_workers_half_written_record_is_not(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    os.makedirs(cfg.run_dir)
    open(os.path.join(cfg.run_dir, records.RECORD + ".tmp.123"), "w").close()  # write_json between write and rename
    assert records.check(cfg) is None
    open(os.path.join(cfg.run_dir, "notes.txt"), "w").close()
    with pytest.raises(records.RunDirError, match="is not a run directory \\(it holds notes.txt but no record.json\\)"):
        records.check(cfg)


def test_corrupt_record_is_refused(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    os.makedirs(cfg.run_dir)
    with open(os.path.join(cfg.run_dir, records.RECORD), "w") as f:
        f.write('{"format": 1, "sta')
    with pytest.raises(records.RunDirError, match="record.json is corrupt"):
        train.run(cfg, raw=tiny_raw())


@pytest.mark.parametrize(
    "overrides, flag",
    [
        ({"corrupt": 1.5}, "--corrupt"),
        ({"train_size": -1}, "--train_size"),
        ({"model": "resnet"}, "--model"),
        ({"corruption": "noise"}, "--corruption"),
        ({"batch_norm": False, "model": "mlp_1x512"}, "--batch_norm"),
        ({"corruption": "random_labels", "corrupt": 0.5}, "--corrupt"),
        ({"epochs": 0}, "--epochs"),
        ({"crop_epochs": -1}, "--crop_epochs"),
        ({"random_label_epochs": -1}, "--random_label_epochs"),
        ({"curve_test_size": -3}, "--curve_test_size"),
        ({"steps_per_execution": 0}, "--steps_per_execution"),
        ({"precision": "float16"}, "--precision"),
        ({"learning_rate": float("inf")}, "--learning_rate"),
        ({"learning_rate": float("nan")}, "--learning_rate"),
        ({"weight_decay": float("inf")}, "--weight_decay"),
    ],
)
def test_bad_values_name_the_flag(overrides, flag):
    with pytest.raises(config.ConfigError, match=flag):
        runs.resolve(config.RunConfig(**overrides))


# What the command line sets for itself (its oneDNN, TensorFlow's start-up lines hidden), unset as in a user's shell.
COMMAND_LINE_VARIABLES = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "RETHINK_TF_QUIET_TENSORFLOW")


def run_cli(*args, cwd=REPO):
    """The entry point as a user runs it: none of COMMAND_LINE_VARIABLES set, so TensorFlow's start-up lines are
    hidden and oneDNN is the command line's."""
    env = {k: v for k, v in os.environ.items() if k not in COMMAND_LINE_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "rethink_tf.train", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_cli_bad_flags_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    # The command line itself once: the process prints its one line and nothing else (TensorFlow's start-up hidden).
    result = run_cli("--model=resnet", f"--results_dir={tmp_path}")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "rethink_tf.train: error:" in result.stderr and "--model" in result.stderr
    # The other cases through the same parser and main in this process (conftest.cli_in_process).
    for args, expected in (
        (["--model=resnet"], "--model"),
        (["--corrupt=2"], "--corrupt"),
        (["--train_size=-5"], "--train_size"),
    ):
        status, _, err = train_in_process(monkeypatch, capsys, *args, f"--results_dir={tmp_path}")
        assert status == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and ": error:" in lines[0] and expected in lines[0], err
    assert os.listdir(tmp_path) == []


def test_tensorflow_start_up_lines_are_hidden_unless_the_variable_asks_for_them():
    def stderr_of(code, **env):
        clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env})
        assert done.returncode == 0, done.stderr
        return done.stderr

    settings = "import rethink_tf; rethink_tf.use_command_line_settings(); "
    modules = "import rethink_tf.train, rethink_tf.experiments.table1, rethink_tf.report; "
    assert stderr_of(f"{settings}{modules}import tensorflow as tf; tf.constant(1.0) + 1") == ""
    # A library changes nothing of the process unless asked: TensorFlow's lines as TensorFlow prints them.
    assert stderr_of("import rethink_tf.cli").strip()
    assert stderr_of(settings + "import rethink_tf.cli", TF_CPP_MIN_LOG_LEVEL="0").strip()  # the user's setting wins
    entry = subprocess.run(
        [sys.executable, "-m", "rethink_tf.report"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    # An entry point (and so every worker process, each one) is quiet: its one line is all it prints (here the
    # report's usage; tests/test_layout.py checks the report's other one-line errors in process).
    assert entry.returncode == 2 and len(entry.stderr.splitlines()) == 1, entry.stderr
    assert "rethink_tf.report: error: usage:" in entry.stderr, entry.stderr


@needs_data
def test_cli_smoke_run_on_fashion_mnist_then_conflict(tmp_path, monkeypatch, capsys):
    result = run_cli("--preset=smoke", "--model=mlp_1x512", "--corrupt=0.5", "--verbose=2", f"--results_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # TensorFlow's start-up and runtime log lines are quiet by default
    progress = [line for line in result.stdout.splitlines() if " epoch " in line]
    assert len(progress) == 2 and all(" gap " in line and " eta " in line for line in progress), result.stdout
    (run_dir,) = glob.glob(os.path.join(tmp_path, "*"))
    record = json.load(open(os.path.join(run_dir, records.RECORD)))
    assert record["status"] == "finished" and record["config"]["train_size"] == 128
    assert record["data"]["input_shape"] == [28, 28, 3] and record["config"]["learning_rate"] == 0.01
    assert 0.3 < record["data"]["train_labels_changed"] < 0.6
    # The command line trains with oneDNN, set before TensorFlow loads, where TensorFlow has it (its x86 builds:
    # on whatever TensorFlow's own default for the CPU).
    assert record["versions"]["TF_ENABLE_ONEDNN_OPTS"] == "1"
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert record["environment"]["onednn"] is True

    before = open(os.path.join(run_dir, records.RECORD), "rb").read()
    status, _, err = train_in_process(  # the command line's parser and main, in this process
        monkeypatch,
        capsys,
        "--preset=smoke",
        "--model=mlp_1x512",
        "--corrupt=0.5",
        "--epochs=3",
        f"--results_dir={tmp_path}",
        f"--run_name={os.path.basename(run_dir)}",
    )
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "different config" in err and "epochs" in err
    assert open(os.path.join(run_dir, records.RECORD), "rb").read() == before


def test_preset_fills_only_unset_flags():
    cfg = preset_flags.base_config("--preset=smoke", "--epochs=7")
    assert cfg.epochs == 7 and cfg.train_size == 128 and cfg.dataset == "fashion_mnist"
    assert cfg.learning_rate is None and runs.resolve(cfg).learning_rate == 0.1  # inception_small's default


# ---------------------------------------------------------------------------------------------------------------
# A run's identity: its experiment fields and its data's fingerprints, not where the data was read from
# ---------------------------------------------------------------------------------------------------------------


def test_same_config_on_other_data_is_refused_not_returned(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    train.run(cfg, raw=tiny_raw())
    other = tiny_raw(n_train=64)  # other arrays, the same config
    with pytest.raises(records.RunDirError, match="holds a result on other data .*fingerprints differ: source"):
        train.run(cfg, raw=other)


def test_moving_the_data_files_keeps_a_finished_run(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1, idx_dir="/data/here")
    first = train.run(cfg, raw=tiny_raw())
    moved = dataclasses.replace(cfg, idx_dir="/data/moved", data_dir="/tfds", cifar_archive="/c.tar.gz")
    assert train.run(moved, raw=tiny_raw()) == first


def test_an_override_of_epochs_is_said_in_the_record_and_the_progress_line(tmp_path, capsys):
    cfg = tiny_config(tmp_path, corruption="random_labels", epochs=1, random_label_epochs=2)
    record = train.run(cfg, raw=tiny_raw(), progress="[run]")
    note = "at most 2 epochs (--random_label_epochs=2: every training label is random), not --epochs=1"
    assert record["epoch_budget"] == {"max_epochs": 2, "flag": "random_label_epochs", "note": note}
    assert f"[run]: {note}" in capsys.readouterr().out and len(record["epochs"]) == 2
    assert "after 2 of at most 2 epochs" in train.summary(record)


def test_help_lists_the_entry_points_own_flags_grouped(monkeypatch, capsys):
    status, out, err = train_in_process(monkeypatch, capsys, "--help")
    assert status == 0, err
    assert (
        out.index("What to run:") < out.index("  --model") < out.index("Regularizers") < out.index("  --weight_decay")
    )
    assert "  --corrupt (default: '0.0')" in out and "Where the data is:" in out and "--random_label_seeds" not in out


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--learning_rate=inf"], "--learning_rate=inf is not allowed: a finite number > 0"),
        (["--train_size=70000"], "--train_size=70000 is more than the 60,000 training examples of fashion_mnist"),
        (["--idx_dir=/nonexistent/fashon-mnist"], "/nonexistent/fashon-mnist: --idx_dir does not exist"),
        (["--results_dir=/sys/rethink_tf_results"], "--results_dir=/sys/rethink_tf_results cannot be written"),
    ],
)
def test_unusable_flags_and_paths_exit_2_with_one_line(tmp_path, monkeypatch, capsys, args, expected):
    if "--train_size=70000" in args and not os.path.isdir(sources.FASHION_MNIST_DIR):
        pytest.skip("needs Debian's dataset-fashion-mnist")
    status, _, err = train_in_process(
        monkeypatch,
        capsys,
        "--preset=smoke",
        "--model=mlp_1x512",
        *args,
        *([] if any(a.startswith("--results_dir") for a in args) else [f"--results_dir={tmp_path}"]),
    )
    assert status == 2, err[-2000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ": error:" in lines[0] and expected in lines[0], err[-2000:]
    assert os.listdir(tmp_path) == []


def test_results_dir_naming_a_file_or_read_only_exits_2(tmp_path, monkeypatch, capsys):
    path = tmp_path / "results.txt"
    path.write_text("mine")
    status, _, err = train_in_process(monkeypatch, capsys, "--preset=smoke", f"--results_dir={path}")
    assert status == 2 and f"--results_dir={path} is a file, not a directory" in err
    assert path.read_text() == "mine"
    if os.geteuid() != 0:  # root writes into a read-only directory (the /sys case above covers root)
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        status, _, err = train_in_process(monkeypatch, capsys, "--preset=smoke", f"--results_dir={locked / 'r'}")
        assert status == 2 and "cannot be written" in err


def test_missing_tfds_data_is_one_line_without_tfds_log_lines(tmp_path):
    result = run_cli(
        "--preset=smoke", "--dataset=mnist", f"--data_dir={tmp_path / 'tfds'}", f"--results_dir={tmp_path / 'results'}"
    )
    assert result.returncode == 2, result.stderr[-2000:]
    mentions = [line for line in result.stderr.splitlines() if "mnist" in line]  # tfds' lines name the data set
    assert len(mentions) == 1 and mentions[0].startswith("rethink_tf.train: error: tfds:mnist"), result.stderr
    assert "tfds build mnist" in mentions[0] and not os.path.exists(tmp_path / "results")
    assert result.stderr.strip() == mentions[0]  # nothing else either (tests/test_user_data.py: tfds:NAME's line)


def test_initial_weights_are_kept_and_rebuilt_from_the_record_to_the_same_bits(tmp_path):
    kept = {}
    for model in ("mlp_1x512", "alexnet_small"):
        cfg = tiny_config(tmp_path / model, model=model, epochs=2, learning_rate=0.01)
        train.run(cfg, raw=tiny_raw())
        path = os.path.join(cfg.run_dir, records.INITIAL_WEIGHTS)
        saved = weight_arrays(path)
        layers = [(n, x) for n, x in final_weights(cfg) if n.startswith("layers/")]
        assert [n for n, _ in saved if n.startswith("layers/")] == [n for n, _ in layers] and len(layers) >= 4
        assert any(not np.array_equal(x, y) for (_, x), (_, y) in zip(saved, layers))  # training moved them
        os.remove(path)
        kept[cfg.run_dir] = (path, saved)
    # Runs from before initial weights were kept: rebuilt from their records alone, in a fresh process (one for
    # both: a rebuild depends on its record, not on what the process built before).
    code = "import sys; from rethink_tf import run_measures as m; print(*map(m.initial_weights, sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, *kept], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == [path for path, _ in kept.values()]
    for path, saved in kept.values():
        rebuilt = weight_arrays(path)
        assert [n for n, _ in rebuilt] == [n for n, _ in saved]
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(rebuilt, saved)), path  # bit-identical
