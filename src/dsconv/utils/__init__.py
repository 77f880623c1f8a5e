"""Small helpers every part may use: atomic file writes, folder locks, timing, process
settings."""

from .files import atomic_path, atomic_write_text, writable_path
from .lock import FolderBusy, folder_lock
from .runtime import is_tracing, tune_allocator
from .timing import median_time

__all__ = ["FolderBusy", "atomic_path", "atomic_write_text", "folder_lock", "is_tracing",
           "median_time", "tune_allocator", "writable_path"]
