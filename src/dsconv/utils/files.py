"""Atomic writes: a file is either the old one or the complete new one, never half of each.

Everything dsconv writes that a later command reads (weights, checkpoints, metrics, Keras and
ONNX files) goes through `atomic_path`: write to a temporary name beside the target, flush to
disk, then rename over it (rename is atomic on POSIX within a directory).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` (with `mode`).

    On an exception the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb") as fh:  # the bytes must be on disk before the rename
            os.fsync(fh.fileno())
        # Libraries that write with mkstemp (safetensors) leave 0600; a model file is shared.
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
