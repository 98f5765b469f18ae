"""The one way every output file is written: to a temporary name beside it, flushed, then renamed over it, so
that a reader (or a run killed mid-write) sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
from typing import Any, Callable


def write_with(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """Calls write(tmp) to write the file at a temporary path ending in `suffix` (for writers that want one,
    such as Keras' ".weights.h5" or matplotlib's ".png"), then renames it to path."""
    tmp = f"{path}.tmp.{os.getpid()}{suffix}"
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            f.write(text)

    write_with(path, write)


def write_bytes(path: str, data: bytes) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    write_with(path, write)


def write_json(path: str, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=True))
