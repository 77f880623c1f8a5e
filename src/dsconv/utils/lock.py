"""One writer per folder: a run folder (or an experiment folder) is locked while a process
writes into it, so two runs started into the same --out cannot overwrite each other.

The lock is an advisory `flock` on `<folder>/.lock`: the kernel drops it when the holder
exits, however it exits (Ctrl-C, kill -9, a crash), so a stale lock never blocks. The file
holds the holder's pid, host and start time, which the refusal names.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"


class FolderBusy(ValueError):
    """Another live process holds the folder's lock."""


def _holder(path: Path) -> str:
    """'pid 123 on host, since 12:00:01 (dsconv train ...)' from a lock file, best effort."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(info.get("time", 0)))
    return (f"pid {info.get('pid')} on {info.get('host')}, since {since} "
            f"({info.get('command', '?')})")


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "a run") -> Iterator[Path]:
    """Hold `folder`'s lock for the block (creating the folder); refuse at once if it is held.

    A folder this call created and that holds nothing but the lock when the block raises is
    removed again: a refused or failed start leaves no empty folder behind.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = _acquire(path, folder, what)
    ok = False
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "time": time.time(),
                                 "command": " ".join(["dsconv", *sys.argv[1:]])[:200]}
                                ).encode())
        yield folder
        ok = True
    finally:
        if not ok and created and [p.name for p in folder.iterdir()] == [LOCK_NAME]:
            shutil.rmtree(folder, ignore_errors=True)  # unlinked while still held: no race
        os.close(fd)  # releases the lock


def _acquire(path: Path, folder: Path, what: str) -> int:
    """An fd holding an exclusive lock on `path`; FolderBusy if a live process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderBusy(f"{folder} is in use by {what}: {_holder(path)}; wait for it to "
                             "finish or choose another --out") from None
        # The holder before us may have removed the file after we opened it: then our lock
        # is on an orphan; take the lock again on the file that is there now.
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
