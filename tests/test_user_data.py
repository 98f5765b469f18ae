"""Any data set: a user's .npz arrays and image folders, and tfds sets by name (through tfds' mock data), each
through a training run with random labels; every bad-data case one line naming the file and the fix."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import train_in_process

from rethink_tf import config, runs, train
from rethink_tf.data import sources

CLASSES, SIZE = 5, 12  # another size and class count than the built-in sets


def _images(n, rng, channels=1, size=SIZE):
    return rng.integers(0, 256, size=(n, size, size) + ((channels,) if channels > 1 else ()), dtype=np.uint8)


def write_npz(path, n_train=100, n_test=50, **overrides):
    rng = np.random.default_rng(0)
    arrays = dict(
        x_train=_images(n_train, rng),
        y_train=np.arange(n_train) % CLASSES,
        x_test=_images(n_test, rng),
        y_test=np.arange(n_test) % CLASSES,
    )
    arrays.update(overrides)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return str(path)


def write_folder(root, per_class=(12, 4), names=("cat", "dog", "owl"), sizes=None, fmt="png"):
    rng = np.random.default_rng(1)
    for split, count in zip(("train", "test"), per_class):
        for c, name in enumerate(names):
            os.makedirs(root / split / name, exist_ok=True)
            for i in range(count):
                size = sizes(split, c, i) if sizes else SIZE
                image = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                encoded = tf.io.encode_png(image) if fmt == "png" else tf.io.encode_jpeg(image)
                (root / split / name / f"{i:03d}.{fmt}").write_bytes(encoded.numpy())
    return str(root)


def run_config(tmp_path, dataset, **overrides):
    values = dict(
        model="mlp_1x512",
        dataset=dataset,
        corruption="random_labels",
        batch_size=25,
        epochs=60,
        stop_when_fit=True,
        learning_rate=0.01,
        results_dir=str(tmp_path / "results"),
        verbose=0,
    )
    values.update(overrides)
    return runs.resolve(config.RunConfig(**values))


def test_npz_random_labels_fit_and_test_at_chance(tmp_path):
    path = write_npz(tmp_path / "mine.npz")
    record = train.run(run_config(tmp_path, f"npz:{path}"))
    assert record["status"] == "finished" and record["final"]["train_accuracy"] == 1.0
    assert abs(record["final"]["test_accuracy"] - 1 / CLASSES) <= 0.12  # 50 test images: chance within noise
    data = record["data"]
    assert data["source"] == f"npz:{path}" and data["origin"] == f"npz:{path}"
    assert data["num_classes"] == CLASSES and data["image_shape"] == [SIZE, SIZE, 1]
    assert data["input_shape"] == [SIZE, SIZE, 3] and record["config"]["crop_size"] == SIZE
    assert set(data["fingerprints"]) >= {"source", "train_labels", "train_images"}
    assert record["run_name"] == "mlp_1x512-npz-mine-random_labels-seed0"
    # The paper's count is for its 28x28x3 input and 10 classes only; the model's own is always given.
    assert record["model"]["paper_param_count"] is None
    assert record["model"]["param_count"] == (SIZE * SIZE * 3 + 1) * 512 + 513 * CLASSES


def test_folder_random_labels_fit_with_class_names(tmp_path):
    root = write_folder(tmp_path / "pets")
    raw = sources.load(f"folder:{root}")
    assert raw.class_names == ("cat", "dog", "owl") and raw.num_classes == 3
    assert raw.train.images.shape == (36, SIZE, SIZE, 3) and list(raw.train.labels[:13]) == [0] * 12 + [1]
    # Decoded with TensorFlow's own decoder, the pixels are the PNG's.
    first = tf.io.decode_png((tmp_path / "pets/train/cat/000.png").read_bytes()).numpy()
    np.testing.assert_array_equal(raw.train.images[0], first)
    record = train.run(run_config(tmp_path, f"folder:{root}"), raw=raw)
    assert record["status"] == "finished" and record["final"]["train_accuracy"] == 1.0
    assert record["data"]["class_names"] == ["cat", "dog", "owl"]
    assert record["data"]["source"] == f"folder:{root}" and record["run_name"].startswith("mlp_1x512-folder-pets-")


def test_folder_of_mixed_sizes_needs_image_size(tmp_path):
    root = write_folder(tmp_path / "mixed", per_class=(2, 1), sizes=lambda split, c, i: 10 + c + i, fmt="jpg")
    with pytest.raises(sources.DataError, match=r"image is \d+x\d+ but .* is 10x10.*Fix: pass --image_size=S"):
        sources.load(f"folder:{root}")
    raw = sources.load(f"folder:{root}", image_size=16)
    assert raw.train.images.shape == (6, 16, 16, 3) and raw.test.images.shape == (3, 16, 16, 3)


def test_tfds_name_through_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=60):
        raw = sources.load("tfds:cifar100")
    assert raw.num_classes == 100 and raw.train.images.shape == (60, 32, 32, 3)
    assert len(raw.class_names) == 100 and raw.origin.startswith("tfds:cifar100 (data_dir=")
    cfg = run_config(tmp_path, "tfds:cifar100", batch_size=30, epochs=30, learning_rate=0.05)
    record = train.run(cfg, raw=raw)
    assert record["status"] == "finished" and record["final"]["train_accuracy"] == 1.0
    assert record["data"]["source"] == "tfds:cifar100" and record["config"]["crop_size"] == 28
    # More than 10 classes: top-5 accuracy is measured as well (Table 2 reports it).
    assert "top5_accuracy" in record["epochs"][-1] and "test_top5_accuracy" in record["final"]


def test_tfds_image_size_and_splits_through_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=4):
        raw = sources.load("tfds:imagenet2012", test_split="validation", image_size=20)
        assert raw.train.images.shape == (4, 20, 20, 3) and raw.num_classes == 1000
        with pytest.raises(sources.DataError, match=r"images differ in size .*Fix: pass --image_size=S"):
            sources.load("tfds:imagenet2012", test_split="validation")


def test_tfds_without_prepared_data_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    # The command line's parser and main in this process; tests/test_train.py runs the command line itself on a
    # tfds set without prepared data (--dataset=mnist): its one line is all the process prints.
    flags = ("--preset=smoke", f"--results_dir={tmp_path / 'r'}", "--dataset=tfds:svhn_cropped")
    rc, _, err = train_in_process(monkeypatch, capsys, *flags, f"--data_dir={tmp_path / 'tfds'}")
    err = err.strip()
    assert rc == 2 and "\n" not in err, err
    assert "tfds:svhn_cropped" in err and "no prepared copy there" in err and "pass --download" in err
    assert "tfds build svhn_cropped" in err and not os.listdir(tmp_path)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--dataset=cifar11"], "--dataset='cifar11' is not allowed: one of fashion_mnist, cifar10, mnist"),
        (["--dataset=tfds:"], "tfds:NAME[:CONFIG], npz:PATH, folder:PATH"),
        (["--dataset=tfds:no_such_set_at_all"], "tfds knows no data set 'no_such_set_at_all'"),
        (["--dataset=npz:x.npz", "--download"], "--download=True is not allowed: only tfds sources download"),
        (["--test_split=validation"], "only tfds:NAME sources have named splits"),
        (["--model=inception_v3", "--hidden_noise=0.1"], "noise layers are built into inception_small"),
        (["--model=inception_v3", "--crop_size=32"], "inception_v3 needs inputs of at least 75x75"),
    ],
)
def test_bad_flags_are_one_line(tmp_path, monkeypatch, capsys, flags, message):
    # The command line's parser and main in this process (as above).
    rc, _, err = train_in_process(monkeypatch, capsys, "--preset=smoke", f"--results_dir={tmp_path / 'r'}", *flags)
    err = err.strip()
    assert rc == 2 and "\n" not in err and message in err, err
    assert not os.listdir(tmp_path)


def _load_error(path, spec="npz"):
    with pytest.raises(sources.DataError) as excinfo:
        sources.load(f"{spec}:{path}")
    message = str(excinfo.value)
    assert "\n" not in message and "Fix:" in message
    return message


def test_npz_bad_data(tmp_path):
    rng = np.random.default_rng(0)
    cases = {
        "missing.npz": None,
        "no_test.npz": dict(x_test=None),
        "counts.npz": dict(y_train=np.arange(99) % CLASSES),
        "shapes.npz": dict(x_test=_images(50, rng, size=SIZE + 2)),
        "negative.npz": dict(y_test=np.arange(50) % CLASSES - 1),
        "gap.npz": dict(y_train=np.where(np.arange(100) % CLASSES == 2, 3, np.arange(100) % CLASSES)),
        "floats.npz": dict(x_train=np.zeros((100, SIZE, SIZE), np.float32) + 0.5),
        "names.npz": dict(class_names=np.array(["a", "b", "c"])),
        "empty.npz": dict(x_test=np.zeros((0, SIZE, SIZE), np.uint8), y_test=np.zeros(0, np.int64)),
    }
    expected = {
        "missing.npz": "file not found",
        "no_test.npz": "has no array x_test",
        "counts.npz": "has (99,) labels for 100 images",
        "shapes.npz": "x_train images are (12, 12, 1) but x_test images (14, 14, 1)",
        "negative.npz": "label -1 is negative",
        "gap.npz": "class 2 has no training example",
        "floats.npz": "images must be uint8",
        "names.npz": "label 4 is outside the 3 classes of class_names",
        "empty.npz": "the test split is empty",
    }
    for name, overrides in cases.items():
        path = tmp_path / name
        if overrides is not None:
            write_npz(path, **overrides)
        message = _load_error(path)
        assert str(path) in message and expected[name] in message, message
    (tmp_path / "text.npz").write_text("not a zip")
    assert "not a readable .npz file" in _load_error(tmp_path / "text.npz")


def test_folder_bad_data(tmp_path):
    root = tmp_path / "pets"
    write_folder(root, per_class=(2, 1))
    (root / "train" / "dog" / "001.png").write_bytes(b"not an image")
    message = _load_error(root, "folder")
    assert str(root / "train" / "dog" / "001.png") in message and "unreadable image" in message

    root = tmp_path / "empty_class"
    write_folder(root, per_class=(2, 1))
    os.makedirs(root / "train" / "yak")
    assert f"{root / 'train' / 'yak'}: class folder holds no PNG or JPEG image" in _load_error(root, "folder")

    root = tmp_path / "no_test"
    write_folder(root, per_class=(2, 1))
    for f in (root / "test").rglob("*.png"):
        f.unlink()
    for d in sorted((root / "test").iterdir()):
        d.rmdir()
    (root / "test").rmdir()
    assert f"{root / 'test'}: split folder 'test' missing" in _load_error(root, "folder")

    root = tmp_path / "unknown_class"
    write_folder(root, per_class=(2, 1))
    os.makedirs(root / "test" / "emu")
    (root / "test" / "emu" / "0.png").write_bytes((root / "test" / "cat" / "000.png").read_bytes())
    assert "class 'emu' has no folder in train/" in _load_error(root, "folder")


def test_run_name_of_every_source():
    key = config.dataset_key
    assert [key("fashion_mnist"), key("tfds:svhn_cropped"), key("tfds:cifar10_corrupted:fog_1")] == [
        "fashion_mnist",
        "tfds-svhn_cropped",
        "tfds-cifar10_corrupted-fog_1",
    ]
    assert key("npz:/data/my set.npz") == "npz-my set" and key("folder:~/pets/") == "folder-pets"


def test_record_is_json(tmp_path):
    path = write_npz(tmp_path / "small.npz", n_train=20, n_test=10)
    record = train.run(run_config(tmp_path, f"npz:{path}", epochs=1, stop_when_fit=False))
    on_disk = json.load(open(os.path.join(record_dir(tmp_path, record), "record.json")))
    assert on_disk["data"]["source"] == f"npz:{path}"


def record_dir(tmp_path, record):
    return os.path.join(tmp_path / "results", record["run_name"])
