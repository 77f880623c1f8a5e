"""Fast depthwise Conv1d on CPU: ``depthwise_conv1d(x, weight, bias, stride, padding, dilation)``.

torch's grouped ``F.conv1d`` (groups == C) is slow on CPU: at x = (64, 128, 512), K = 39, 1 thread,
~120 ms forward and ~290 ms forward + backward (~70 / ~180 ms in the least loaded 2-thread runs).
Measured causes: oneDNN's depthwise kernel is fast only with padding=0 (the same conv on a pre-padded
input: ~6 ms vs ~60 ms, 2 threads) and grad_weight has no fast kernel (~80 ms). Routes, picked per
call by ``_route``:

* ``"numba"`` (CPU float32/float64, numba importable, >= ``MIN_NUMBA_MACS`` multiply-adds): nogil
  kernels over the N*C (batch x channel) rows. Each input row is copied once into a zero-padded,
  stride-polyphase scratch row, so every tap reads a contiguous slice (vectorises, AVX2 FMA); 4 taps
  are fused per pass over the output. grad_input is the same correlation on the zero-padded grad with
  the flipped kernel (stride 1) or a per-tap scatter (stride > 1); grad_weight is 8 (then 4) dot
  products per pass in the input dtype (float64 accumulators made float32 ~1.5x slower; error stays
  ~1e-7 relative); grad_bias is fused. 10-16 GMAC/s per core at (64, 128, 512), K 9-39 (22 on cached
  rows; sgemm peak ~40; K = 9 is near memory bandwidth on one core). The rows are run by
  ``torch.get_num_threads()`` workers: by default (``PARALLEL = "threads"``) the caller plus a small
  thread pool pulling row chunks from a shared counter; ``PARALLEL = "prange"`` uses one numba
  ``parallel=True`` launch instead. Measured on this shared 2-core box, numba's prange runs on a
  second GNU OpenMP runtime (no TBB): ~8 ms per launch (spin-wait barrier) vs ~0.1 ms for the pool,
  starting it made later tiny torch ops spike to 20-100 ms, and the parfor wrappers double the cold
  compile (~8 s vs ~3.6 s for float32 forward + backward).
* ``"torch"`` (CPU float32/float64 without numba): forward and grad_input by oneDNN on the explicitly
  padded input (padding=0); grad_weight (stride 1) by one batched GEMM over overlapping windows plus
  a diagonal sum (~4x faster than aten's at K = 39, ~1.1x at K = 9); stride > 1 grad_weight by aten.
* ``"native"``: ``F.conv1d(F.pad(x, padding))`` (CUDA, other dtypes, empty or tiny inputs). Only this
  route supports double backward; the others raise on it (``once_differentiable``).

``DSCONV_NO_NUMBA=1`` (at import) or ``USE_NUMBA = False`` disables numba. Kernels compile lazily on
the first call per dtype (~3.6 s cold for forward + backward, ~0.4 s from the on-disk cache).
"""
from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

try:
    if os.environ.get("DSCONV_NO_NUMBA", "") not in ("", "0"):
        raise ImportError("numba disabled by DSCONV_NO_NUMBA")
    import numba
except ImportError:
    numba = None

__all__ = ["depthwise_conv1d"]

USE_NUMBA: bool = numba is not None  #: run-time switch (tests flip it to cover the torch route)
MIN_NUMBA_MACS: int = 1 << 16  #: below this many multiply-adds use F.conv1d (both < 0.5 ms there)
MIN_TORCH_MACS: int = 1 << 20  #: same for the pure-torch route (it only changes grad_weight)
PARALLEL: str = "threads"  #: numba work split: "threads" (nogil kernels on a pool) or "prange"
CHUNKS_PER_THREAD: int = 8  #: "threads" mode: row chunks per worker (dynamic load balance)

if numba is not None:
    _JIT = dict(fastmath=True, nogil=True, cache=True, error_model="numpy")

    @numba.njit(**_JIT)
    def _load_row(ph, row, pl, s):
        """Polyphase zero-padded copy: ph[r, m] = row[m*s + r - pl] where in range (rest stays 0)."""
        for r in range(s):
            lo = max(0, -((r - pl) // s))  # ceil((pl - r) / s)
            hi = min(ph.shape[1], -((r - pl - row.shape[0]) // s))
            if hi > lo:  # copy through views with non-negative indices so LLVM can vectorise
                dst, src = ph[r, lo:hi], row[lo * s + r - pl:]
                for i in range(hi - lo):
                    dst[i] = src[i * s]

    @numba.njit(**_JIT)
    def _tap(ph, a, s, n):
        """xpad[a + t*s] for t < n as a contiguous view, where ph[r, m] = xpad[m*s + r]."""
        return ph[a % s, a // s:a // s + n]

    @numba.njit(**_JIT)
    def _taps4(ph, a, d, s, n):
        """Views for the 4 taps at xpad offsets a, a+d, a+2d, a+3d (see ``_tap``)."""
        return _tap(ph, a, s, n), _tap(ph, a + d, s, n), _tap(ph, a + 2 * d, s, n), _tap(ph, a + 3 * d, s, n)

    @numba.njit(**_JIT)
    def _corr(y, ph, w, s, d, off):
        """y[t] += sum_k w[k] * xpad[t*s + k*d + off] (xpad polyphase in ph, see ``_tap``)."""
        n, K, k = y.shape[0], w.shape[0], 0
        while k + 4 <= K:
            x0, x1, x2, x3 = _taps4(ph, off + k * d, d, s, n)
            w0, w1, w2, w3 = w[k], w[k + 1], w[k + 2], w[k + 3]
            for t in range(n):
                y[t] += w0 * x0[t] + w1 * x1[t] + w2 * x2[t] + w3 * x3[t]
            k += 4
        for k in range(k, K):
            x0, w0 = _tap(ph, off + k * d, s, n), w[k]
            for t in range(n):
                y[t] += w0 * x0[t]

    @numba.njit(**_JIT)
    def _dots(gw, g, ph, s, d):
        """gw[k] += sum_t g[t] * xpad[t*s + k*d] (xpad polyphase in ph, see ``_tap``)."""
        n, K, k = g.shape[0], gw.shape[0], 0
        zero = g.dtype.type(0)  # accumulate in the array dtype: float32 stays float32 (vectorises 8-wide)
        while k + 8 <= K:  # 8 dot products per pass: ~10% faster than 4 (g loaded once per 8 taps)
            x0, x1, x2, x3 = _taps4(ph, k * d, d, s, n)
            x4, x5, x6, x7 = _taps4(ph, (k + 4) * d, d, s, n)
            s0, s1, s2, s3, s4, s5, s6, s7 = zero, zero, zero, zero, zero, zero, zero, zero
            for t in range(n):
                gt = g[t]
                s0, s1, s2, s3 = s0 + gt * x0[t], s1 + gt * x1[t], s2 + gt * x2[t], s3 + gt * x3[t]
                s4, s5, s6, s7 = s4 + gt * x4[t], s5 + gt * x5[t], s6 + gt * x6[t], s7 + gt * x7[t]
            gw[k], gw[k + 1], gw[k + 2], gw[k + 3] = gw[k] + s0, gw[k + 1] + s1, gw[k + 2] + s2, gw[k + 3] + s3
            gw[k + 4], gw[k + 5], gw[k + 6], gw[k + 7] = gw[k + 4] + s4, gw[k + 5] + s5, gw[k + 6] + s6, gw[k + 7] + s7
            k += 8
        while k + 4 <= K:
            x0, x1, x2, x3 = _taps4(ph, k * d, d, s, n)
            s0, s1, s2, s3 = zero, zero, zero, zero
            for t in range(n):
                s0, s1, s2, s3 = s0 + g[t] * x0[t], s1 + g[t] * x1[t], s2 + g[t] * x2[t], s3 + g[t] * x3[t]
            gw[k], gw[k + 1], gw[k + 2], gw[k + 3] = gw[k] + s0, gw[k + 1] + s1, gw[k + 2] + s2, gw[k + 3] + s3
            k += 4
        for k in range(k, K):
            x0, s0 = _tap(ph, k * d, s, n), zero
            for t in range(n):
                s0 += g[t] * x0[t]
            gw[k] += s0

    @numba.njit(**_JIT)
    def _fwd_rows(x, w, b, out, s, d, pl, ph, i0, i1):
        """Rows it = n*C + c in [i0, i1): out[n, c*dm:(c+1)*dm] from x[n, c]; ph (s, Lph) zeroed scratch."""
        C, dm = x.shape[1], w.shape[0] // x.shape[1]
        for it in range(i0, i1):
            n, c = it // C, it % C
            _load_row(ph, x[n, c], pl, s)
            for o in range(c * dm, c * dm + dm):
                out[n, o, :] = b[o]
                _corr(out[n, o], ph, w[o], s, d, 0)

    @numba.njit(**_JIT)
    def _bwd_rows(x, w, wf, gy, gx, s, d, pl, need_gx, need_gw, gw, gb, ph, gph, gyp, i0, i1):
        """Rows it = n*C + c in [i0, i1): fills gx[n, c] if need_gx; adds into this worker's partial sums
        gw (C*dm, K) if need_gw and gb (C*dm,). wf = w flipped along K; x is a dummy unless need_gw.
        Zeroed scratch: ph, gph (s, Lph), gyp (1, Lout + 2*d*(K-1))."""
        C, L = gx.shape[1], gx.shape[2]
        dm, K, Lout = w.shape[0] // C, w.shape[1], gy.shape[2]
        halo = d * (K - 1)
        for it in range(i0, i1):
            n, c = it // C, it % C
            row = gx[n, c]
            if need_gw:
                _load_row(ph, x[n, c], pl, s)
            if need_gx:
                row[:] = 0
                if s > 1:
                    gph[:] = 0
            for o in range(c * dm, c * dm + dm):
                g, acc = gy[n, o], gy.dtype.type(0)
                for t in range(Lout):  # (a loop compiles faster than g.sum())
                    acc += g[t]
                gb[o] += acc
                if need_gw:
                    _dots(gw[o], g, ph, s, d)
                if need_gx and s == 1:  # gx[i] = sum_k wf[k] * gpad[i + pl + k*d]
                    dst = gyp[0, halo:halo + Lout]
                    for t in range(Lout):  # (array-to-array slice assignment costs ~2 s of compile)
                        dst[t] = g[t]
                    _corr(row, gyp, wf[o], s, d, pl)
                elif need_gx:  # scatter: gxpad[t*s + k*d] += w[k] * g[t]
                    for k in range(K):
                        dst, wk = _tap(gph, k * d, s, Lout), w[o, k]
                        for t in range(Lout):
                            dst[t] += wk * g[t]
            if need_gx and s > 1:
                for r in range(s):
                    for m in range(gph.shape[1]):
                        if 0 <= m * s + r - pl < L:
                            row[m * s + r - pl] = gph[r, m]

    @numba.njit(parallel=True, **_JIT)
    def _fwd_par(x, w, b, out, s, d, pl, ph):
        T, items = ph.shape[0], x.shape[0] * x.shape[1]
        for t in numba.prange(T):
            _fwd_rows(x, w, b, out, s, d, pl, ph[t], t * items // T, (t + 1) * items // T)

    @numba.njit(parallel=True, **_JIT)
    def _bwd_par(x, w, wf, gy, gx, s, d, pl, need_gx, need_gw, gw, gb, ph, gph, gyp):
        T, items = ph.shape[0], gx.shape[0] * gx.shape[1]
        for t in numba.prange(T):
            _bwd_rows(x, w, wf, gy, gx, s, d, pl, need_gx, need_gw, gw[t], gb[t], ph[t], gph[t], gyp[t],
                      t * items // T, (t + 1) * items // T)


def _out_len(L: int, K: int, stride: int, padding: tuple[int, int], dilation: int) -> int:
    return (L + padding[0] + padding[1] - dilation * (K - 1) - 1) // stride + 1


# ----------------------------------------------------------------------------- numba route
_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (pid that created it, pool)


def _numba_threads() -> int:
    """Use torch's thread count so torch's and our workers never run 2x the cores. Only the
    "prange" mode touches numba's thread pool (set_num_threads launches it)."""
    if PARALLEL != "prange":
        return max(1, torch.get_num_threads())
    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


def _run_rows(rows_fn: Callable, par_fn: Callable, args: tuple, scratch: tuple, items: int) -> None:
    """Run the row kernel over rows [0, items) with T = len(scratch[0]) workers (worker t uses a[t]
    of every scratch array a). PARALLEL == "prange": one numba parallel=True call, static split.
    PARALLEL == "threads": the caller plus T-1 pool threads pull chunks of rows from a shared
    counter, so a worker the OS deschedules (shared cores) delays the call by at most one chunk."""
    T = scratch[0].shape[0]
    if PARALLEL == "prange":
        par_fn(*args, *scratch)
        return
    global _POOL
    if T > 1 and (_POOL is None or _POOL[0] != os.getpid() or _POOL[1]._max_workers < T - 1):
        if _POOL is not None and _POOL[0] == os.getpid():
            _POOL[1].shutdown(wait=False)
        _POOL = (os.getpid(), ThreadPoolExecutor(T - 1, thread_name_prefix="dsconv"))  # new after fork
    n_chunks = min(items, CHUNKS_PER_THREAD * T if T > 1 else 1)
    bounds = [i * items // n_chunks for i in range(n_chunks + 1)]
    ticket = itertools.count()  # next() is atomic under the GIL

    def work(t: int) -> None:
        mine = tuple(a[t] for a in scratch)
        while (i := next(ticket)) < n_chunks:
            rows_fn(*args, *mine, bounds[i], bounds[i + 1])  # nogil kernel: runs in parallel

    futures = [_POOL[1].submit(work, t) for t in range(1, T)]
    work(0)
    for f in futures:
        f.result()


def _scratch_len(Lout: int, K: int, s: int, d: int) -> int:
    """Length of one stride phase of the padded input span that the conv reads."""
    return -(-((Lout - 1) * s + d * (K - 1) + 1) // s)


def _numba_forward(x: Tensor, w: Tensor, b: Tensor | None, s: int, pad: tuple[int, int], d: int) -> Tensor:
    """x (N, C, L) contiguous, w (C*dm, 1, K) -> (N, C*dm, Lout)."""
    N, C, L = x.shape
    CO, _, K = w.shape
    out = x.new_empty(N, CO, _out_len(L, K, s, pad, d))
    bias = x.new_zeros(CO) if b is None else b.contiguous()
    ph = np.zeros((_numba_threads(), s, _scratch_len(out.shape[2], K, s, d)), dtype=x.numpy().dtype)
    args = (x.numpy(), w.reshape(CO, K).contiguous().numpy(), bias.numpy(), out.numpy(), s, d, pad[0])
    _run_rows(_fwd_rows, _fwd_par, args, (ph,), N * C)
    return out


def _numba_backward(x: Tensor, w: Tensor, gy: Tensor, s: int, pad: tuple[int, int], d: int,
                    shape: torch.Size, need: tuple[bool, bool, bool]) -> tuple:
    """gy (N, C*dm, Lout) -> (grad_x (N, C, L) | None, grad_w (C*dm, 1, K) | None, grad_b | None)."""
    CO, _, K = w.shape
    Lout = gy.shape[2]
    w2 = w.reshape(CO, K).contiguous()
    T, dt = _numba_threads(), w2.numpy().dtype
    gx = gy.new_empty(shape)  # never touched when not needed, so it costs no page faults
    gw, gb = np.zeros((T, CO, K), dtype=dt), np.zeros((T, CO), dtype=dt)  # per-worker partial sums
    ph = np.zeros((T, s, _scratch_len(Lout, K, s, d)), dtype=dt)
    scratch = (gw, gb, ph, np.zeros_like(ph), np.zeros((T, 1, Lout + 2 * d * (K - 1)), dtype=dt))
    args = (x.numpy(), w2.numpy(), w2.flip(1).contiguous().numpy(), gy.numpy(), gx.numpy())
    _run_rows(_bwd_rows, _bwd_par, (*args, s, d, pad[0], need[0], need[1]), scratch, shape[0] * shape[1])
    return (gx if need[0] else None,
            torch.from_numpy(gw.sum(0)).view(CO, 1, K) if need[1] else None,
            torch.from_numpy(gb.sum(0)) if need[2] else None)


# ----------------------------------------------------------------------------- pure-torch route
def _torch_forward(x: Tensor, w: Tensor, b: Tensor | None, s: int, pad: tuple[int, int], d: int) -> Tensor:
    """Pad outside the conv: oneDNN's depthwise kernel is only fast with padding=0 (~10x at K=39)."""
    return F.conv1d(F.pad(x, pad), w, b, s, 0, d, x.shape[1])


def _gemm_grad_weight(xpad: Tensor, gy: Tensor, K: int, d: int) -> Tensor:
    """Stride-1 grad_weight (C*dm, 1, K): gw[o, k] = sum_{n,t} gy[n, o, t] * xpad[n, o // dm, t + k*d].

    Time is split into d phases (t = d*t' + r, removes the dilation), then into blocks of P outputs:
    M[o] = G[o] (P, B) @ X[o] (B, P+K-1) over overlapping input windows, gw[o, k] = sum_p M[o, p, p+k].
    (P+K-1)/K times the direct MACs, but one batched GEMM instead of aten's slow grouped kernel."""
    N, CO, Lout = gy.shape
    if CO > xpad.shape[1]:
        xpad = xpad.repeat_interleave(CO // xpad.shape[1], dim=1)
    T = -(-Lout // d)  # outputs per phase
    P = min(64, T)
    A, W = -(-T // P), P + K - 1
    Lx = ((A - 1) * P + W) * d  # input span per phase (times d), zero-padded / cropped to it
    g = F.pad(gy, (0, A * P * d - Lout)).view(N, CO, A * P, d).permute(0, 3, 1, 2)  # (N, d, CO, A*P)
    g = g.reshape(N * d, CO, A, P).permute(1, 3, 0, 2).reshape(CO, P, N * d * A)
    xp = F.pad(xpad[..., :Lx], (0, max(0, Lx - xpad.shape[2]))).view(N, CO, Lx // d, d).permute(0, 3, 1, 2)
    xw = xp.reshape(N * d, CO, Lx // d).unfold(2, W, P).permute(1, 0, 2, 3).reshape(CO, N * d * A, W)
    M = torch.bmm(g, xw)  # (CO, P, W), contiguous
    return M.as_strided((CO, K, P), (P * W, 1, W + 1)).sum(2).view(CO, 1, K)


def _torch_backward(x: Tensor, w: Tensor, gy: Tensor, s: int, pad: tuple[int, int], d: int,
                    shape: torch.Size, need: tuple[bool, bool, bool]) -> tuple:
    """grad_input from aten on the padded shape (fast, like the forward); grad_weight by GEMM (stride 1)."""
    N, C, L = shape
    Lp = L + pad[0] + pad[1]
    xpad = F.pad(x, pad) if need[1] else gy.new_empty(N, C, Lp)  # only its shape is read for grad_input
    gemm = need[1] and s == 1
    gx, gw, _ = torch.ops.aten.convolution_backward(
        gy, xpad, w, None, [s], [0], [d], False, [0], C, [need[0], need[1] and not gemm, False])
    if gemm:
        gw = _gemm_grad_weight(xpad, gy, w.shape[2], d)
    return (gx[..., pad[0]:pad[0] + L] if need[0] else None, gw, gy.sum((0, 2)) if need[2] else None)


# ----------------------------------------------------------------------------- autograd + API
_IMPLS = {"numba": (_numba_forward, _numba_backward), "torch": (_torch_forward, _torch_backward)}


class _DepthwiseConv1d(torch.autograd.Function):
    """Custom autograd for the "numba" and "torch" routes (no double backward)."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None, s: int, pad: tuple[int, int], d: int,
                route: str) -> Tensor:
        x = x.detach().contiguous()
        ctx.conf = (s, pad, d, route, x.shape)
        # x is only needed for grad_weight: don't keep it alive otherwise
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w)
        return _IMPLS[route][0](x, w.detach(), None if b is None else b.detach(), s, pad, d)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy: Tensor) -> tuple:
        x, w = ctx.saved_tensors
        s, pad, d, route, shape = ctx.conf
        if x is None:
            x = gy.new_empty(1, 1, 1)
        need = tuple(ctx.needs_input_grad[:3])
        gx, gw, gb = _IMPLS[route][1](x, w.detach(), gy.detach().contiguous(), s, pad, d, shape, need)
        return gx, gw, gb, None, None, None, None


def _route(x: Tensor, w: Tensor, b: Tensor | None, macs: int) -> str:
    """Dispatch rule (see module docstring for the measurements behind it)."""
    if (x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or w.dtype != x.dtype
            or (b is not None and b.dtype != x.dtype) or w.device != x.device):
        return "native"
    if USE_NUMBA and numba is not None and macs >= MIN_NUMBA_MACS:
        return "numba"
    return "torch" if macs >= MIN_TORCH_MACS else "native"


def depthwise_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                     padding: tuple[int, int] | int = (0, 0), dilation: int = 1) -> Tensor:
    """Depthwise (groups = C) 1-d convolution with explicit zero padding.

    x (N, C, L); weight (C*dm, 1, K) in torch's grouped layout (output channel c*dm + j reads input
    channel c); bias (C*dm,) or None; padding (left, right) zeros, e.g. causal = (dilation*(K-1), 0).
    Returns F.conv1d(F.pad(x, padding), weight, bias, stride, 0, dilation, groups=C): (N, C*dm, L_out)
    with L_out = (L + left + right - dilation*(K-1) - 1) // stride + 1. Double backward is only
    supported on the "native" route (CUDA / other dtypes / tiny problems).
    """
    if isinstance(padding, int):
        padding = (padding, padding)
    pad = (int(padding[0]), int(padding[1]))
    if x.dim() != 3:
        raise ValueError(f"x must be (N, C, L), got shape {tuple(x.shape)}")
    N, C, L = x.shape
    if C == 0 or weight.dim() != 3 or weight.shape[1] != 1 or weight.shape[0] == 0 or weight.shape[0] % C:
        raise ValueError(f"weight must be (C*dm, 1, K) with C={C}, got {tuple(weight.shape)}")
    CO, _, K = weight.shape
    if bias is not None and tuple(bias.shape) != (CO,):
        raise ValueError(f"bias must be ({CO},), got {tuple(bias.shape)}")
    if stride < 1 or dilation < 1 or min(pad) < 0:
        raise ValueError(f"need stride >= 1, dilation >= 1, padding >= 0; got {stride}, {dilation}, {pad}")
    Lout = _out_len(L, K, stride, pad, dilation)
    if Lout < 1:
        raise ValueError(f"padded input length {L + pad[0] + pad[1]} is shorter than the dilated kernel "
                         f"({dilation * (K - 1) + 1}); output would be empty")
    route = _route(x, weight, bias, N * CO * Lout * K) if x.numel() else "native"
    if route == "native":
        return F.conv1d(F.pad(x, pad), weight, bias, stride, 0, dilation, C)
    return _DepthwiseConv1d.apply(x, weight, bias, stride, pad, dilation, route)
