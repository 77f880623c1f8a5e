"""Small helpers every part may use: atomic file writes, timing, process settings."""

from .files import atomic_path, atomic_write_text, writable_path
from .runtime import is_tracing, tune_allocator
from .timing import median_time

__all__ = ["atomic_path", "atomic_write_text", "is_tracing", "median_time", "tune_allocator",
           "writable_path"]
