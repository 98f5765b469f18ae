"""CIFAR-10 from its python archive (cifar-10-python.tar.gz, --cifar_archive): read in one pass, its pickles
unpickled without running code, every failure a DataError naming the archive and member."""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib

import numpy as np

from rethink_tf.data.base import RawSplit, Splits, data_error

NUM_CLASSES = 10
_DIR = "cifar-10-batches-py"
_TRAIN_MEMBERS = tuple(f"{_DIR}/data_batch_{i}" for i in range(1, 6))
_TEST_MEMBER = f"{_DIR}/test_batch"
_FIX = (
    "download cifar-10-python.tar.gz again from https://www.cs.toronto.edu/~kriz/cifar.html "
    "(md5 c58f30108f718f92721af3b95e74349a) and pass it as --cifar_archive, or leave --cifar_archive unset to read "
    "tfds' prepared cifar10"
)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch allowing only the globals numpy arrays need, so a crafted archive cannot run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if module.startswith("numpy.core"):  # NumPy 1.x names, as in the original (Python 2) pickles
            module = "numpy._core" + module[len("numpy.core") :]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _parse_batch(archive: str, member: str, payload: bytes) -> RawSplit:
    """One pickled batch as images HWC uint8 and int64 labels, checked."""
    where = f"{archive} (member {member})"
    try:
        batch = _BatchUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except Exception as err:  # any unpickling failure means a damaged or foreign member
        raise data_error(where, f"not a readable pickle ({type(err).__name__}: {err})", _FIX) from err
    if not isinstance(batch, dict):
        raise data_error(where, f"expected a pickled dict, got {type(batch).__name__}", _FIX)
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", "labels"):
        if key not in batch:
            raise data_error(where, f"the pickled dict has no b{key!r} entry (keys: {sorted(map(str, batch))})", _FIX)
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise data_error(where, f"b'data' must be uint8 [N, 3072], got {data.dtype} {data.shape}", _FIX)
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError) as err:
        raise data_error(where, f"b'labels' is not a list of integers ({err})", _FIX) from err
    if labels.shape != (len(data),):
        raise data_error(where, f"b'labels' has shape {labels.shape}, expected ({len(data)},)", _FIX)
    bad = (labels < 0) | (labels >= NUM_CLASSES)
    if bad.any():
        raise data_error(where, f"label {int(labels[bad][0])} outside [0, 10)", _FIX)
    # Rows are channel-major (1024 R, 1024 G, 1024 B, each row-major 32x32); convert to HWC.
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return RawSplit(images=images, labels=labels)


def read(path: str) -> Splits:
    """Reads cifar-10-python.tar.gz: train = data_batch_1..5 in order, test = test_batch; images HWC uint8."""
    wanted = set(_TRAIN_MEMBERS) | {_TEST_MEMBER}
    payloads: dict[str, bytes] = {}
    try:
        # Stream mode: one sequential pass over the gzip, no seeking back for each member.
        with tarfile.open(path, "r|*") as tar:
            for info in tar:
                name = info.name[2:] if info.name.startswith("./") else info.name
                if name in wanted and info.isfile():
                    payloads[name] = tar.extractfile(info).read()
    except FileNotFoundError:
        raise data_error(path, "archive not found", _FIX) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        problem = f"not a readable tar archive, or truncated ({type(err).__name__}: {err})"
        raise data_error(path, problem, _FIX) from err

    for member in (*_TRAIN_MEMBERS, _TEST_MEMBER):
        if member not in payloads:
            raise data_error(f"{path} (member {member})", "member missing from the archive", _FIX)
    train_parts = [_parse_batch(path, m, payloads.pop(m)) for m in _TRAIN_MEMBERS]
    test = _parse_batch(path, _TEST_MEMBER, payloads.pop(_TEST_MEMBER))
    train = RawSplit(
        images=np.concatenate([p.images for p in train_parts]),
        labels=np.concatenate([p.labels for p in train_parts]),
    )
    return Splits(train, test, NUM_CLASSES, origin=path)
