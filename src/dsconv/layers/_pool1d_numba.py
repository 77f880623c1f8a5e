"""numba kernels of the stride-1 max-pool over sequences (see pool.py for the route that uses
them), run by the depthwise kernels' thread pool over the same chunks of rows.

Each input row is copied once behind -inf padding; the window maxima are k vectorised passes of
a running max. The backward keeps no indices: it recomputes each window's winner from the saved
input by aten's rule (the first maximum; a NaN wins, the last one) and adds the gradient per tap
in aten's order, so it equals aten's max-pool backward to the bit without aten's int64 index
tensor, zero-fill and scatter.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from ._depthwise1d_numba import _JIT, _run_rows, _workers

_JIT = dict(_JIT, fastmath=False)  # fastmath assumes no NaN: `v != v` would fold to False


@numba.njit(**_JIT)
def _load_row(xp, row, pl):
    """xp[pl + i] = row[i]; the padding cells around it stay -inf."""
    dst = xp[pl:pl + row.shape[0]]
    for i in range(row.shape[0]):
        dst[i] = row[i]


@numba.njit(**_JIT)
def _maxima(m, idx, xp, k, pl, track):
    """m[t] = max of the window xp[t:t+k]; with track, idx[t] = the tap of aten's winner (the
    first maximum, the last NaN; a window of -inf only: its first cell inside the row)."""
    n = m.shape[0]
    m[:] = -np.inf
    if track:
        idx[:] = 0
        for t in range(min(pl, n)):
            idx[t] = pl - t
    for j in range(k):
        v, fj = xp[j:j + n], idx.dtype.type(j)  # (typed constants: the loops vectorise)
        if track:
            for t in range(n):
                new = (v[t] > m[t]) | (v[t] != v[t])
                m[t] = v[t] if new else m[t]
                idx[t] = fj if new else idx[t]
        else:
            for t in range(n):
                m[t] = v[t] if (v[t] > m[t]) | (v[t] != v[t]) else m[t]


@numba.njit(**_JIT)
def _fwd_rows(x, out, k, pl, xp, idx, c0, c1, n0, n1, p):
    """Rows c in [c0, c1), n in [n0, n1): out[n, c] = the window maxima of x[n, c]. Scratch:
    xp (L + padding), idx unused."""
    for c in range(c0, c1):
        for n in range(n0, n1):
            _load_row(xp, x[n, c], pl)
            _maxima(out[n, c], idx, xp, k, pl, False)


@numba.njit(**_JIT)
def _bwd_rows(x, gy, gx, k, pl, xp, m, idx, c0, c1, n0, n1, p):
    """Rows c in [c0, c1), n in [n0, n1): gx[n, c][t + j - pl] += gy[n, c][t] where tap j wins
    window t; taps in descending order, so each cell adds its windows' gradients in ascending t
    (aten's order). Scratch: xp (L + padding), m (Lout), idx (Lout) (taps as floats)."""
    L, Lout = gx.shape[2], gy.shape[2]
    for c in range(c0, c1):
        for n in range(n0, n1):
            _load_row(xp, x[n, c], pl)
            _maxima(m, idx, xp, k, pl, True)
            row, g, zero = gx[n, c], gy[n, c], gy.dtype.type(0)
            row[:] = 0
            for j in range(k - 1, -1, -1):
                lo, hi, fj = max(0, pl - j), min(Lout, L + pl - j), idx.dtype.type(j)
                if hi > lo:
                    dst, gg, ii = row[lo + j - pl:hi + j - pl], g[lo:hi], idx[lo:hi]
                    for u in range(hi - lo):
                        dst[u] += gg[u] if ii[u] == fj else zero


def _scratch(L: int, pad: tuple[int, int], Lout: int, dtype) -> tuple[np.ndarray, ...]:
    """Per worker: the -inf padded row (T, L + padding), window maxima and winners (T, Lout);
    winners as floats of x's dtype: compared 8-wide, where int64 would go 4-wide."""
    T = _workers()
    return (np.full((T, L + pad[0] + pad[1]), -np.inf, dtype=dtype),
            np.empty((T, Lout), dtype=dtype), np.empty((T, Lout), dtype=dtype))


def forward(x: Tensor, k: int, pad: tuple[int, int]) -> Tensor:
    """x (N, C, L) contiguous -> (N, C, L + pad[0] + pad[1] - k + 1), -inf padding."""
    N, C, L = x.shape
    out = x.new_empty(N, C, L + pad[0] + pad[1] - k + 1)
    xp, _, idx = _scratch(L, pad, 0, x.numpy().dtype)
    _run_rows(_fwd_rows, (x.numpy(), out.numpy(), k, pad[0]), (xp, idx), N, C)
    return out


def backward(x: Tensor, gy: Tensor, k: int, pad: tuple[int, int]) -> Tensor:
    """grad of x (N, C, L) from gy (N, C, Lout), both contiguous."""
    N, C, L = x.shape
    gx = torch.empty_like(x)
    scratch = _scratch(L, pad, gy.shape[2], x.numpy().dtype)
    _run_rows(_bwd_rows, (x.numpy(), gy.numpy(), gx.numpy(), k, pad[0]), scratch, N, C)
    return gx
