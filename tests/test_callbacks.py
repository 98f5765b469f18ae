"""callbacks.AtomicBackupAndRestore leans on private parts of keras.callbacks.BackupAndRestore (read in Keras
3.15.1); setup.cfg allows any Keras >= 3.3, so a Keras that renames one fails here, naming it, not in a resume."""

import inspect
import os

import keras
import numpy as np
import pytest

from rethink_tf import callbacks

Keras = keras.callbacks.BackupAndRestore

# Set by BackupAndRestore.__init__ and read or written by the subclass.
INSTANCE_ATTRIBUTES = ("_weights_path", "_training_metadata_path", "_current_epoch", "_last_batch_seen")


@pytest.mark.parametrize("name", INSTANCE_ATTRIBUTES)
def test_keras_sets_the_private_attributes_the_backup_uses(tmp_path, name):
    backup = Keras(str(tmp_path / "backup"))
    assert hasattr(backup, name), f"Keras {keras.__version__}'s BackupAndRestore has no {name}"


def test_keras_saves_through_the_private_method_the_backup_overrides():
    assert callable(getattr(Keras, "_save_model", None)), (
        f"Keras {keras.__version__} has no BackupAndRestore._save_model"
    )
    source = inspect.getsource(Keras.on_epoch_end)
    assert "self._save_model()" in source, f"Keras {keras.__version__}'s on_epoch_end no longer calls _save_model"


def test_keras_keeps_its_backup_files_directly_in_backup_dir(tmp_path):
    backup = Keras(str(tmp_path / "backup"))  # the subclass writes them under <dir>.new by these file names
    assert os.path.dirname(backup._weights_path) == backup.backup_dir
    assert os.path.dirname(backup._training_metadata_path) == backup.backup_dir


def test_a_backup_written_by_the_subclass_is_read_back_by_keras(tmp_path):
    def model():
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    saved, backup_dir = model(), str(tmp_path / "backup")
    writer = callbacks.AtomicBackupAndRestore(backup_dir)
    writer.set_model(saved)
    writer.on_epoch_end(2)  # Keras' hook, calling the overridden _save_model
    assert sorted(os.listdir(tmp_path)) == ["backup"]  # swapped in whole: no <dir>.new or <dir>.old left
    restored = model()
    reader = callbacks.AtomicBackupAndRestore(backup_dir)
    reader.set_model(restored)
    reader.on_train_begin()  # Keras' own loading code
    assert restored._initial_epoch == 3
    for a, b in zip(saved.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
