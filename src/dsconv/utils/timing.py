"""Wall-clock timing: the one median timer every measurement here uses.

Figures drift ~5% between processes on a shared CPU: compare paths timed in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], reps: int, warmup: int = 2) -> float:
    """Median seconds of fn() over `reps` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(reps, 1)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]
