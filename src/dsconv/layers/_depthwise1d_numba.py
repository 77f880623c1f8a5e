"""numba kernels of the fast depthwise Conv1d (see depthwise1d.py for the route that uses them).

Each kernel runs over rows (n, c) of the input (batch x channel), releases the GIL, and is run
by `torch.get_num_threads()` workers: the caller plus a small thread pool pulling chunks of
rows from a shared counter. Each input row is first copied once into a zero-padded,
stride-polyphase scratch row, so every tap reads a contiguous slice (the loops vectorise to
AVX2 FMAs); 4 taps are fused per pass over the output. grad_input is the same correlation on the
zero-padded gradient with the flipped kernel (stride 1) or a per-tap scatter (stride > 1);
grad_weight is 4 dot products per pass; grad_bias is fused in.

Branches: the kernels take several weights (kernel sizes, paddings) over one input and write
the branches' outputs side by side (`depthwise_conv1d_branches`, XceptionTime's 39/19/9): each
input row is loaded once for all of them, and grad_input sums the branches in the row. The
plain conv is one branch.

Deterministic: a chunk is a channel range x a batch part (`_chunks`). The batch parts depend on
the shapes alone; grad_weight / grad_bias keep one partial sum per part, which one chunk per
channel accumulates in batch order, and the parts are summed in a fixed order. Which worker
pulls which chunk changes no sum, so results are the same to the bit from run to run and for
every thread count. (Before, each worker summed whichever rows it pulled: runs with one seed
ended with different losses.)

Why a thread pool and not numba's `prange`: on this 2-core machine numba's parallel launch runs
a second OpenMP runtime beside torch's, costs ~8 ms per launch (vs ~0.1 ms here), and doubled
the cold compile time. Kernels compile on the first call per dtype (~3.6 s cold, ~0.4 s from
numba's on-disk cache).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch
from torch import Tensor

CHUNKS_PER_THREAD = 8  # chunks per worker: a descheduled worker delays a call by one chunk
MIN_CHUNKS = 64  # batch parts make at least this many chunks (where N allows) for few channels
_JIT = dict(fastmath=True, nogil=True, cache=True, error_model="numpy")


@numba.njit(**_JIT)
def _load_row(ph, row, pl, s):
    """Polyphase zero-padded copy: ph[r, m] = row[m*s + r - pl] where in range (rest stays 0)."""
    for r in range(s):
        lo = max(0, -((r - pl) // s))  # ceil((pl - r) / s)
        hi = min(ph.shape[1], -((r - pl - row.shape[0]) // s))
        if hi > lo:  # views with non-negative indices, so that LLVM vectorises the copy
            dst, src = ph[r, lo:hi], row[lo * s + r - pl:]
            for i in range(hi - lo):
                dst[i] = src[i * s]


@numba.njit(**_JIT)
def _tap(ph, a, s, n):
    """xpad[a + t*s] for t < n as a contiguous view, where ph[r, m] = xpad[m*s + r]."""
    return ph[a % s, a // s:a // s + n]


@numba.njit(**_JIT)
def _corr(y, ph, w, s, d, off):
    """y[t] += sum_k w[k] * xpad[t*s + k*d + off] (xpad polyphase in ph, see `_tap`)."""
    n, K, k = y.shape[0], w.shape[0], 0
    while k + 4 <= K:
        a = off + k * d
        x0, x1 = _tap(ph, a, s, n), _tap(ph, a + d, s, n)
        x2, x3 = _tap(ph, a + 2 * d, s, n), _tap(ph, a + 3 * d, s, n)
        w0, w1, w2, w3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        for t in range(n):
            y[t] += w0 * x0[t] + w1 * x1[t] + w2 * x2[t] + w3 * x3[t]
        k += 4
    for j in range(k, K):  # the last K % 4 taps
        x0, w0 = _tap(ph, off + j * d, s, n), w[j]
        for t in range(n):
            y[t] += w0 * x0[t]


@numba.njit(**_JIT)
def _dots4(gw, k, g, ph, s, d, off):
    """gw[k + i] += sum_t g[t] * xpad[t*s + (k + i)*d + off] for i < 4."""
    n, zero = g.shape[0], g.dtype.type(0)  # float32 sums stay float32: vectorises 8-wide
    a = off + k * d
    x0, x1 = _tap(ph, a, s, n), _tap(ph, a + d, s, n)
    x2, x3 = _tap(ph, a + 2 * d, s, n), _tap(ph, a + 3 * d, s, n)
    s0, s1, s2, s3 = zero, zero, zero, zero
    for t in range(n):
        gt = g[t]
        s0, s1, s2, s3 = s0 + gt * x0[t], s1 + gt * x1[t], s2 + gt * x2[t], s3 + gt * x3[t]
    gw[k] += s0
    gw[k + 1] += s1
    gw[k + 2] += s2
    gw[k + 3] += s3


@numba.njit(**_JIT)
def _dots(gw, g, ph, s, d, off):
    """gw[k] += sum_t g[t] * xpad[t*s + k*d + off] for every k (xpad polyphase in ph)."""
    n, K, k = g.shape[0], gw.shape[0], 0
    while k + 4 <= K:
        _dots4(gw, k, g, ph, s, d, off)
        k += 4
    for j in range(k, K):  # the last K % 4 taps
        x0, s0 = _tap(ph, off + j * d, s, n), g.dtype.type(0)
        for t in range(n):
            s0 += g[t] * x0[t]
        gw[j] += s0


@numba.njit(**_JIT)
def _fwd_rows(x, w, koff, offs, b, out, s, d, pl, ph, c0, c1, n0, n1, p):
    """Rows c in [c0, c1), n in [n0, n1): for each branch j and o in c*dm..c*dm+dm-1,
    out[n, j*CO + o] = b[j*CO + o] + the correlation of x[n, c] padded by pl with the taps
    w[o, koff[j]:koff[j+1]] from offset offs[j] (branch j's own left padding is pl - offs[j]).
    ph (s, Lph) zeroed scratch; p (the batch part) unused."""
    CO = w.shape[0]
    dm = CO // x.shape[1]
    for c in range(c0, c1):
        for n in range(n0, n1):
            _load_row(ph, x[n, c], pl, s)  # once for every branch
            for j in range(koff.shape[0] - 1):
                for o in range(c * dm, c * dm + dm):
                    y = out[n, j * CO + o]
                    y[:] = b[j * CO + o]
                    _corr(y, ph, w[o, koff[j]:koff[j + 1]], s, d, offs[j])


@numba.njit(**_JIT)
def _grad_input_row(row, g, w, wf, s, d, pl, off, gph, gyp):
    """row += grad of x[n, c] from output row g of one branch (taps w, flipped wf, left padding
    pl, offset off in the common padding): a correlation with wf on the zero-padded g in gyp
    (stride 1), or a per-tap scatter into the polyphase scratch gph (stride > 1)."""
    K, Lout = w.shape[0], g.shape[0]
    if s == 1:  # gx[i] = sum_k wf[k] * gpad[i + pl + k*d], gpad = g behind a halo of H zeros
        H = (gyp.shape[1] - Lout) // 2
        dst = gyp[0, H:H + Lout]
        for t in range(Lout):  # (a loop: array slice assignment costs ~2 s of compile)
            dst[t] = g[t]
        _corr(row, gyp, wf, s, d, pl + H - d * (K - 1))
        return
    for k in range(K):  # gxpad[t*s + k*d + off] += w[k] * g[t]
        dst, wk = _tap(gph, off + k * d, s, Lout), w[k]
        for t in range(Lout):
            dst[t] += wk * g[t]


@numba.njit(**_JIT)
def _bwd_rows(x, w, wf, koff, offs, gy, gx, s, d, pl, need_gx, need_gw, gw, gb, ph, gph, gyp,
              c0, c1, n0, n1, p):
    """Rows c in [c0, c1), n in [n0, n1) (c outer, n inner) of `_fwd_rows`'s branches: fills
    gx[n, c] (summed over the branches) if need_gx; adds into batch part p's partial sums
    gw[p] (P, CO, sum K) if need_gw and gb[p] (P, B*CO). wf holds each branch's taps flipped;
    x is a dummy unless need_gw. Zeroed scratch: ph, gph (s, Lph), gyp (1, Lout + 2*H)."""
    C, L = gx.shape[1], gx.shape[2]
    CO, Lout = w.shape[0], gy.shape[2]
    dm, nb = CO // C, n1 - n0
    for it in range((c1 - c0) * nb):  # one loop, c outer: gw[p, o] sums over n in order
        c, n = c0 + it // nb, n0 + it % nb
        row = gx[n, c]
        if need_gw:
            _load_row(ph, x[n, c], pl, s)
        if need_gx:
            row[:] = 0
            if s > 1:
                gph[:] = 0
        for j in range(koff.shape[0] - 1):
            k0, k1, off = koff[j], koff[j + 1], offs[j]
            for o in range(c * dm, c * dm + dm):
                g, acc = gy[n, j * CO + o], gy.dtype.type(0)
                for t in range(Lout):  # (a loop compiles faster than g.sum())
                    acc += g[t]
                gb[p, j * CO + o] += acc
                if need_gw:
                    _dots(gw[p, o, k0:k1], g, ph, s, d, off)
                if need_gx:
                    _grad_input_row(row, g, w[o, k0:k1], wf[o, k0:k1], s, d, pl - off, off,
                                    gph, gyp)
        if need_gx and s > 1:  # un-polyphase the scattered gradient into the row
            for r in range(s):
                for m in range(gph.shape[1]):
                    if 0 <= m * s + r - pl < L:
                        row[m * s + r - pl] = gph[r, m]


_POOL: tuple[int, ThreadPoolExecutor] | None = None  # (pid that made it, pool): new after fork


def _workers() -> int:
    """torch's thread count, so that torch's threads and ours never run 2x the cores."""
    return max(1, torch.get_num_threads())


def _pool(T: int) -> ThreadPoolExecutor | None:
    """The thread pool of T - 1 workers beside the caller (None for T = 1), new after a fork."""
    global _POOL
    if T > 1 and (_POOL is None or _POOL[0] != os.getpid() or _POOL[1]._max_workers < T - 1):
        if _POOL is not None and _POOL[0] == os.getpid():
            _POOL[1].shutdown(wait=False)
        _POOL = (os.getpid(), ThreadPoolExecutor(T - 1, thread_name_prefix="dsconv"))
    return _POOL[1] if T > 1 else None


def batch_parts(N: int, C: int) -> int:
    """How many parts the batch splits into: a function of the shapes alone, so that the
    partial sums (one per part) and their order never depend on the thread count."""
    return min(N, -(-MIN_CHUNKS // C))


def _chunks(N: int, C: int, T: int) -> list[tuple[int, int, int, int, int]]:
    """(c0, c1, n0, n1, p): channels [c0, c1) x batch part p = [n0, n1). The channel groups
    follow T (about CHUNKS_PER_THREAD chunks per worker) and change no sum."""
    P = batch_parts(N, C)
    G = min(C, -(-CHUNKS_PER_THREAD * T // P)) if T > 1 else 1
    return [(g * C // G, (g + 1) * C // G, p * N // P, (p + 1) * N // P, p)
            for p in range(P) for g in range(G)]


def _run_rows(rows_fn, args: tuple, scratch: tuple[np.ndarray, ...], N: int, C: int) -> None:
    """Run `rows_fn(*args, *scratch[t], c0, c1, n0, n1, p)` over the chunks of `_chunks` with
    T = len(scratch[0]) workers pulling chunks from a shared counter; worker t owns
    scratch[.][t] (scratch that each row overwrites where it reads: no result depends on t)."""
    T = scratch[0].shape[0]
    chunks = _chunks(N, C, T)
    ticket = itertools.count()  # next() is atomic under the GIL

    def work(t: int) -> None:
        mine = tuple(a[t] for a in scratch)
        while (i := next(ticket)) < len(chunks):
            rows_fn(*args, *mine, *chunks[i])  # nogil: runs in parallel

    pool = _pool(T)
    futures = [pool.submit(work, t) for t in range(1, T)] if pool is not None else []
    work(0)
    for f in futures:
        f.result()


def _layout(ws: list[Tensor], pads: list[tuple[int, int]], s: int, d: int, Lout: int
            ) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """(koff, offs, pl, Lph, H): the branches' tap offsets into the concatenated weights, their
    offsets in the common padding pl (the largest left padding), the length of one stride phase
    of the padded input span read, and the halo of the zero-padded gradient (stride 1)."""
    Ks = [w.shape[2] for w in ws]
    pl = max(p[0] for p in pads)
    offs = np.array([pl - p[0] for p in pads], dtype=np.int64)
    koff = np.cumsum([0] + Ks).astype(np.int64)
    span = max((Lout - 1) * s + o + d * (K - 1) + 1 for o, K in zip(offs.tolist(), Ks))
    return koff, offs, pl, -(-span // s), d * (max(Ks) - 1)


def forward(x: Tensor, ws: list[Tensor], b: Tensor | None, s: int, pads: list[tuple[int, int]],
            d: int, Lout: int) -> Tensor:
    """x (N, C, L) contiguous, branch weights ws[j] (C*dm, 1, K_j) with paddings pads[j], all
    giving Lout outputs; b (B*C*dm,) or None -> (N, B*C*dm, Lout), branch j in channels
    [j*C*dm, (j+1)*C*dm). One branch is the plain depthwise conv."""
    N, C, _ = x.shape
    CO = ws[0].shape[0]
    out = x.new_empty(N, len(ws) * CO, Lout)
    bias = x.new_zeros(len(ws) * CO) if b is None else b.contiguous()
    koff, offs, pl, Lph, _ = _layout(ws, pads, s, d, Lout)
    ph = np.zeros((_workers(), s, Lph), dtype=x.numpy().dtype)
    w2 = torch.cat([w.reshape(CO, -1) for w in ws], 1)
    args = (x.numpy(), w2.numpy(), koff, offs, bias.numpy(), out.numpy(), s, d, pl)
    _run_rows(_fwd_rows, args, (ph,), N, C)
    return out


def backward(x: Tensor, ws: list[Tensor], gy: Tensor, s: int, pads: list[tuple[int, int]],
             d: int, shape: torch.Size, need: tuple[bool, bool, bool]) -> tuple:
    """gy (N, B*C*dm, Lout) -> (grad_x (N, C, L), [grad_w (C*dm, 1, K_j)], grad_b (B*C*dm,)),
    None where not needed. The same to the bit for every run and thread count (module
    docstring)."""
    CO, Lout = ws[0].shape[0], gy.shape[2]
    w2 = torch.cat([w.reshape(CO, -1) for w in ws], 1)
    wf = torch.cat([w.reshape(CO, -1).flip(1) for w in ws], 1)
    koff, offs, pl, Lph, H = _layout(ws, pads, s, d, Lout)
    T, P, dtype = _workers(), batch_parts(shape[0], shape[1]), w2.numpy().dtype
    gx = gy.new_empty(shape)  # untouched unless needed, so it costs no page faults
    gw = np.zeros((P, CO, int(koff[-1])), dtype=dtype)  # per batch part
    gb = np.zeros((P, len(ws) * CO), dtype=dtype)
    ph = np.zeros((T, s, Lph), dtype=dtype)
    gyp = np.zeros((T, 1, Lout + 2 * H), dtype=dtype)
    args = (x.numpy(), w2.numpy(), wf.numpy(), koff, offs, gy.numpy(), gx.numpy(), s, d, pl,
            need[0], need[1], gw, gb)
    _run_rows(_bwd_rows, args, (ph, np.zeros_like(ph), gyp), shape[0], shape[1])
    gws = None
    if need[1]:
        gw_all = torch.from_numpy(_sum_parts(gw))
        gws = [gw_all[:, a:b].reshape(CO, 1, b - a) for a, b in zip(koff[:-1], koff[1:])]
    return gx if need[0] else None, gws, torch.from_numpy(_sum_parts(gb)) if need[2] else None


def _sum_parts(a: np.ndarray) -> np.ndarray:
    """a (P, ...) summed over the batch parts in a fixed order: a[0] + a[1] + ... ."""
    out = a[0].copy()
    for part in a[1:]:
        out += part
    return out
