"""Atomic writes: a file is either the old one or the complete new one, never half of each.

Everything dsconv writes that a later command reads (weights, checkpoints, metrics, Keras and
ONNX files) goes through `atomic_path`: write to a temporary name beside the target, flush to
disk, then rename over it (rename is atomic on POSIX within a directory). A missing parent
folder is created; commands call `writable_path` on their outputs before any work, so that a
location that cannot be written fails at once, not after the work.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` (with `mode`).

    On an exception the temporary file is removed and `path` is left as it was. The parent
    folder is created if missing; a location that cannot be written is a ValueError.
    """
    path = writable_path(path)
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


def writable_path(path: str | Path) -> Path:
    """`path` as a Path, its parent folder created if missing; ValueError naming the problem
    when a file cannot be written there (the parent is a file, not writable; `path` a folder).

    Cheap: commands call it on their outputs first, so a bad location costs no work.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name to write, e.g. {path / 'out'}")
    parent = path.parent
    blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(f"cannot write {path}: {blocker} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot write {path}: cannot create its folder {parent} "
                         f"({err.strerror or err})") from err
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: no permission to write in {parent}")
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
