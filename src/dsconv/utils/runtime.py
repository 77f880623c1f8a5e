"""Process-level settings for CPU runs, and whether torch is tracing.

glibc's allocator returns large blocks to the OS after each use (mmap threshold), so every
forward pass page-faults its activations afresh; at batch 8 on Xception that costs up to 1.6x
(measured on the 2-core dev machine, see shared notes). Keeping freed memory in the heap removes
it. The CLI calls `tune_allocator()` at start-up; library users can call it, or export
MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 before starting Python.
"""

from __future__ import annotations

import ctypes
import sys

import torch

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def tune_allocator() -> bool:
    """Stop glibc from unmapping freed large blocks; True if applied (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 2**36)
        return bool(ok)
    except (OSError, AttributeError):
        return False


def is_tracing() -> bool:
    """True under ONNX export, torch.export, torch.compile or jit tracing: layers that take a
    faster eager route (a custom kernel, a size-specialised op) keep a plain, exportable one."""
    return bool(torch.jit.is_tracing() or torch.compiler.is_compiling()
                or torch.onnx.is_in_onnx_export())
