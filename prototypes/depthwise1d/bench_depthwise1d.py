"""Benchmark depthwise_conv1d against torch.nn.Conv1d(C, C, K, groups=C) on CPU.

Usage: python bench_depthwise1d.py [--reps 7] [--threads 2] [--shape 64 128 512] [--ks 39 19 9]
                                  [--routes numba torch prange native]

All timings are taken in one process with torch and ours interleaved rep by rep (the machine is
shared, so load changes hit both sides alike); the table shows medians over reps after one warm-up
and the median of the per-rep ratios torch / ours (at most ~30 s per cell, at least 3 reps); "(min)"
is min(torch) / min(ours), the least load-disturbed pair.
Forward is timed under no_grad; fwd+bwd computes grad_input, grad_weight and grad_bias.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

import depthwise1d as D


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _compare(ref: Callable[[], object], ours: Callable[[], object], reps: int,
             budget_s: float = 30.0) -> tuple[float, float, float, float]:
    """Median ms of ref, median ms of ours, median of per-rep ratios ref/ours (interleaved), and
    min(ref)/min(ours) (closest to an unloaded machine). Stops after budget_s (at least 3 reps):
    on a loaded box one torch backward can take seconds."""
    ref(), ours()  # warm-up (compiles / caches)
    tr, to = [], []
    start = time.perf_counter()
    while len(tr) < reps and (len(tr) < 3 or time.perf_counter() - start < budget_s):
        tr.append(_timed(ref))
        to.append(_timed(ours))
    ratio = statistics.median(a / b for a, b in zip(tr, to))
    return statistics.median(tr) * 1e3, statistics.median(to) * 1e3, ratio, min(tr) / min(to)


def bench(N: int, C: int, L: int, K: int, reps: int, routes: list[str]) -> list[str]:
    conv = torch.nn.Conv1d(C, C, K, groups=C, padding=K // 2)  # 'same' for odd K
    x = torch.randn(N, C, L, requires_grad=True)
    gy = torch.randn(N, C, L)
    pad = (K // 2, K // 2)  # exactly the reference's padding

    def ours_f() -> torch.Tensor:
        return D.depthwise_conv1d(x, conv.weight, conv.bias, 1, pad)

    def fb(f: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            x.grad = conv.weight.grad = conv.bias.grad = None
            f().backward(gy)
        return run

    # correctness spot check against torch (relative to the max magnitude)
    fb(lambda: conv(x))()
    ref_g = [t.grad.clone() for t in (x, conv.weight, conv.bias)]
    y_ref = conv(x).detach()
    fb(ours_f)()
    err = max(((t.grad - r).abs().max() / r.abs().max()).item() for t, r in zip((x, conv.weight, conv.bias), ref_g))
    err = max(err, ((ours_f() - y_ref).abs().max() / y_ref.abs().max()).item())

    rows = []
    for route in routes:
        D.USE_NUMBA, D.PARALLEL = route in ("numba", "prange"), "prange" if route == "prange" else "threads"
        D.MIN_TORCH_MACS = 1 << 62 if route == "native" else 1 << 20
        with torch.no_grad():
            f = _compare(lambda: conv(x), ours_f, reps)
        b = _compare(fb(lambda: conv(x)), fb(ours_f), reps)
        rows.append(f"{K:>3} {route:>6} | {f[0]:8.2f} {f[1]:8.2f} {f[2]:6.1f}x {f[3]:6.1f}x "
                    f"| {b[0]:8.2f} {b[1]:8.2f} {b[2]:6.1f}x {b[3]:6.1f}x | {err:.1e}")
    D.USE_NUMBA, D.PARALLEL, D.MIN_TORCH_MACS = D.numba is not None, "threads", 1 << 20
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 128, 512))
    ap.add_argument("--ks", type=int, nargs="+", default=(39, 19, 9))
    ap.add_argument("--routes", nargs="+", default=["numba", "torch"],
                    choices=["numba", "prange", "torch", "native"],
                    help="numba = nogil kernels on a thread pool (the default route), prange = numba "
                         "parallel=True kernels, torch = the no-numba route, native = F.conv1d(F.pad(x))")
    a = ap.parse_args()
    routes = [r for r in a.routes if r in ("torch", "native") or D.numba is not None]
    torch.set_num_threads(a.threads)
    N, C, L = a.shape
    print(f"x = ({N}, {C}, {L}) float32, stride 1, 'same' padding, {a.threads} threads, torch {torch.__version__}, "
          f"numba {getattr(D.numba, '__version__', 'absent')}; medians of {a.reps} interleaved reps")
    print("  K  route | forward ms: torch     ours  ratio  (min) | fwd+bwd ms: torch     ours  ratio  (min) "
          "| max rel err")
    t = time.perf_counter()
    D.depthwise_conv1d(torch.randn(2, 4, 64, requires_grad=True), torch.randn(4, 1, 5, requires_grad=True),
                       padding=(2, 2)).sum().backward()  # tiny: native route, no compile
    for K in a.ks:
        for row in bench(N, C, L, K, a.reps, routes):
            print(row, flush=True)
    print(f"total {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
