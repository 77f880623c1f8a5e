"""A fast depthwise Conv1d for CPU: `depthwise_conv1d(x, weight, bias, stride, padding, dilation)`.

torch's grouped `F.conv1d` (groups == C) is slow on CPU: at x = (64, 128, 512), kernel 39, two
threads, about 70-150 ms forward and 250 ms forward + backward, 1-2% of the matmul roof. The
measured causes: oneDNN's depthwise kernel is fast only without padding (the same conv on a
pre-padded input is 5-10x faster), and grad_weight has no fast kernel at all. Routes, picked per
call by `_route`:

* "numba" (CPU float32/float64, numba importable, a problem worth a thread pool): the nogil
  kernels of `_depthwise1d_numba`, 10-16 GMAC/s per core at XceptionTime's shapes.
* "torch" (the same without numba): forward and grad_input by oneDNN on the explicitly padded
  input; stride-1 grad_weight as one batched GEMM over overlapping windows plus a diagonal sum
  (~4x aten's at kernel 39).
* "native": `F.conv1d(F.pad(x, padding))`: CUDA, other dtypes, tiny problems, and whenever torch
  traces (ONNX export, torch.export, torch.compile), so exported graphs hold a plain Conv.
  Only this route has a double backward; the others raise on one.

`DSCONV_NO_NUMBA=1` (read at import) or `depthwise1d.USE_NUMBA = False` disables numba.

`depthwise_conv1d_branches` runs several depthwise convs of one input (XceptionTime's kernels
39/19/9) and concatenates them: on the numba route in one pass over the input.

`depthwise_conv1d_last` takes channels-last (N, L, C) sequences (SliceNet's layout): on CPU it
runs oneDNN's channels-last kernel, which vectorises over channels; on short sequences with
many channels it beats every (N, C, L) route even counting their transposes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from ..utils import is_tracing

try:
    if os.environ.get("DSCONV_NO_NUMBA", "") not in ("", "0"):
        raise ImportError("numba disabled by DSCONV_NO_NUMBA")
    from . import _depthwise1d_numba as _numba
except ImportError:  # numba is an extra (dsconv[fast], also pulled in by dsconv[series])
    _numba = None

__all__ = ["depthwise_conv1d", "depthwise_conv1d_branches", "depthwise_conv1d_last",
           "fuses_branches"]

USE_NUMBA: bool = _numba is not None  # run-time switch (tests flip it to cover the torch route)
MIN_NUMBA_MACS = 1 << 16  # below this many multiply-adds F.conv1d is as fast (both < 0.5 ms)
MIN_TORCH_MACS = 1 << 20  # the same for the pure-torch route (it only changes grad_weight)


def _gemm_grad_weight(xpad: Tensor, gy: Tensor, K: int, d: int) -> Tensor:
    """Stride-1 grad_weight (C*dm, 1, K): gw[o, k] = sum_{n,t} gy[n, o, t] * xpad[n, o//dm, t+k*d].

    Time is split into d phases (t = d*t' + r removes the dilation), then into blocks of P
    outputs: M[o] = G[o] (P, B) @ X[o] (B, P+K-1) over overlapping input windows, and
    gw[o, k] = sum_p M[o, p, p+k]. (P+K-1)/K times the direct multiply-adds, but one batched
    GEMM instead of aten's slow grouped kernel.
    """
    N, CO, Lout = gy.shape
    if CO > xpad.shape[1]:
        xpad = xpad.repeat_interleave(CO // xpad.shape[1], dim=1)
    T = -(-Lout // d)  # outputs per phase
    P = min(64, T)
    A, W = -(-T // P), P + K - 1
    Lx = ((A - 1) * P + W) * d  # input span per phase (times d), zero-padded / cropped to it
    g = F.pad(gy, (0, A * P * d - Lout)).view(N, CO, A * P, d).permute(0, 3, 1, 2)
    g = g.reshape(N * d, CO, A, P).permute(1, 3, 0, 2).reshape(CO, P, N * d * A)
    xp = F.pad(xpad[..., :Lx], (0, max(0, Lx - xpad.shape[2])))
    xp = xp.view(N, CO, Lx // d, d).permute(0, 3, 1, 2).reshape(N * d, CO, Lx // d)
    xw = xp.unfold(2, W, P).permute(1, 0, 2, 3).reshape(CO, N * d * A, W)
    M = torch.bmm(g, xw)  # (CO, P, W), contiguous
    return M.as_strided((CO, K, P), (P * W, 1, W + 1)).sum(2).view(CO, 1, K)


def _torch_forward(x: Tensor, w: Tensor, b: Tensor | None, s: int, pad: tuple[int, int], d: int,
                   Lout: int) -> Tensor:
    """Pad outside the conv: oneDNN's depthwise kernel is only fast with padding=0."""
    return F.conv1d(F.pad(x, pad), w, b, s, 0, d, x.shape[1])


def _torch_backward(x: Tensor, w: Tensor, gy: Tensor, s: int, pad: tuple[int, int], d: int,
                    shape: torch.Size, need: tuple[bool, bool, bool]) -> tuple:
    """grad_input by aten on the padded shape (fast, like the forward); grad_weight by GEMM."""
    N, C, L = shape
    xpad = F.pad(x, pad) if need[1] else gy.new_empty(N, C, L + pad[0] + pad[1])  # shape only
    gemm = need[1] and s == 1
    gx, gw, _ = torch.ops.aten.convolution_backward(
        gy, xpad, w, None, [s], [0], [d], False, [0], C, [need[0], need[1] and not gemm, False])
    if gemm:
        gw = _gemm_grad_weight(xpad, gy, w.shape[2], d)
    gx = gx[..., pad[0]:pad[0] + L] if need[0] else None
    return gx, gw, gy.sum((0, 2)) if need[2] else None


class _DepthwiseConv1d(torch.autograd.Function):
    """Custom autograd for the "numba" and "torch" routes (no double backward)."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None, s: int, pad: tuple[int, int],
                d: int, Lout: int, route: str) -> Tensor:
        x = x.detach().contiguous()
        ctx.conf = (s, pad, d, route, x.shape)
        # x is only needed for grad_weight: do not keep it alive otherwise
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w)
        b = None if b is None else b.detach()
        if route == "numba":
            return _numba.forward(x, [w.detach()], b, s, [pad], d, Lout)
        return _torch_forward(x, w.detach(), b, s, pad, d, Lout)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy: Tensor) -> tuple:
        x, w = ctx.saved_tensors
        s, pad, d, route, shape = ctx.conf
        x = gy.new_empty(1, 1, 1) if x is None else x
        need = tuple(ctx.needs_input_grad[:3])
        gy = gy.detach().contiguous()
        if route == "numba":
            gx, gws, gb = _numba.backward(x, [w.detach()], gy, s, [pad], d, shape, need)
            gw = None if gws is None else gws[0]
        else:
            gx, gw, gb = _torch_backward(x, w.detach(), gy, s, pad, d, shape, need)
        return gx, gw, gb, None, None, None, None, None


def _route(x: Tensor, w: Tensor, b: Tensor | None, macs: int) -> str:
    """Which implementation runs this call (module docstring: the measurements behind it)."""
    same = w.dtype == x.dtype and w.device == x.device and (b is None or b.dtype == x.dtype)
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or not same:
        return "native"  # (tracing never gets here: depthwise_conv1d returns the plain conv)
    if USE_NUMBA and _numba is not None and macs >= MIN_NUMBA_MACS:
        return "numba"
    return "torch" if macs >= MIN_TORCH_MACS else "native"


def _check_args(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int,
                pad: tuple[int, int], dilation: int) -> int:
    """Raise a ValueError naming the bad argument; return the output length."""
    if x.dim() != 3:
        raise ValueError(f"x must be (N, C, L), got shape {tuple(x.shape)}")
    C, L = x.shape[1], x.shape[2]
    if C == 0 or weight.dim() != 3 or weight.shape[1] != 1 or weight.shape[0] % C:
        raise ValueError(f"weight must be (C*dm, 1, K) with C={C}, got {tuple(weight.shape)}")
    CO, K = weight.shape[0], weight.shape[2]
    if CO == 0 or K == 0:
        raise ValueError(f"weight must be (C*dm, 1, K) with C={C}, got {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (CO,):
        raise ValueError(f"bias must be ({CO},), got {tuple(bias.shape)}")
    if stride < 1 or dilation < 1 or min(pad) < 0:
        raise ValueError(f"need stride >= 1, dilation >= 1 and padding >= 0; got stride={stride}, "
                         f"dilation={dilation}, padding={pad}")
    span = dilation * (K - 1) + 1
    if L + pad[0] + pad[1] < span:
        raise ValueError(f"padded input length {L + pad[0] + pad[1]} is shorter than the dilated "
                         f"kernel ({span}); the output would be empty: give a longer input")
    return (L + pad[0] + pad[1] - span) // stride + 1


def depthwise_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                     padding: tuple[int, int] | int = (0, 0), dilation: int = 1) -> Tensor:
    """Depthwise (groups = C) 1-D convolution with explicit zero padding.

    x (N, C, L); weight (C*dm, 1, K) in torch's grouped layout (output channel c*dm + j reads
    input channel c); bias (C*dm,) or None; padding (left, right) zeros, e.g. causal is
    (dilation*(K-1), 0). Returns F.conv1d(F.pad(x, padding), weight, bias, stride, 0, dilation,
    groups=C): (N, C*dm, L_out), L_out = (L + left + right - dilation*(K-1) - 1) // stride + 1.
    """
    pad = (padding, padding) if isinstance(padding, int) else (int(padding[0]), int(padding[1]))
    if is_tracing():  # no shape checks on symbolic sizes: the plain conv, as exported
        return F.conv1d(F.pad(x, pad), weight, bias, stride, 0, dilation, x.shape[1])
    Lout = _check_args(x, weight, bias, stride, pad, dilation)
    macs = x.shape[0] * weight.shape[0] * Lout * weight.shape[2]
    route = _route(x, weight, bias, macs) if x.numel() else "native"
    if route == "native":
        return F.conv1d(F.pad(x, pad), weight, bias, stride, 0, dilation, x.shape[1])
    return _DepthwiseConv1d.apply(x, weight, bias, stride, pad, dilation, Lout, route)


class _DepthwiseConv1dBranches(torch.autograd.Function):
    """Several depthwise convs of one input in one pass of the numba kernels (no bias, no
    double backward): grad_input is summed over the branches inside the kernel."""

    @staticmethod
    def forward(ctx, x: Tensor, conf: tuple, *ws: Tensor) -> Tensor:
        s, pads, d, Lout = conf
        x = x.detach().contiguous()
        ctx.conf = (s, pads, d, x.shape)
        ctx.save_for_backward(x if any(ctx.needs_input_grad[2:]) else None, *ws)
        return _numba.forward(x, [w.detach() for w in ws], None, s, pads, d, Lout)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy: Tensor) -> tuple:
        x, *ws = ctx.saved_tensors
        s, pads, d, shape = ctx.conf
        x = gy.new_empty(1, 1, 1) if x is None else x
        need = (ctx.needs_input_grad[0], any(ctx.needs_input_grad[2:]), False)
        gx, gws, _ = _numba.backward(x, [w.detach() for w in ws], gy.detach().contiguous(), s,
                                     pads, d, shape, need)
        return gx, None, *(gws if gws is not None else [None] * len(ws))


def fuses_branches(x: Tensor, weights: Sequence[Tensor]) -> bool:
    """True when `depthwise_conv1d_branches(x, weights, ...)` runs in one pass of the numba
    kernels; False where it runs the convs one by one (no numba, tracing, CUDA, other dtypes,
    tiny problems)."""
    if is_tracing() or not x.numel() or x.dim() != 3:
        return False
    macs = x.shape[0] * x.shape[2] * sum(w.shape[0] * w.shape[2] for w in weights)
    return all(_route(x, w, None, macs) == "numba" for w in weights)


def depthwise_conv1d_branches(x: Tensor, weights: Sequence[Tensor],
                              paddings: Sequence[tuple[int, int]], stride: int = 1,
                              dilation: int = 1) -> Tensor:
    """Several depthwise convs (no bias) of the same input, their outputs concatenated:
    x (N, C, L), weights[j] (C*dm, 1, K_j), paddings[j] (left, right) ->
    torch.cat([depthwise_conv1d(x, w, None, stride, p, dilation) for w, p in ...], 1),
    (N, sum of C*dm_j, L_out); every branch must give the same L_out (e.g. 'same' padding).

    Where `fuses_branches` (the numba route) and the depth multipliers agree, one kernel reads
    each input row once for all the branches, forward and backward (grad_input summed over the
    branches in the kernel); elsewhere it is that concatenation of separate convs.
    """
    pads = [(int(p[0]), int(p[1])) for p in paddings]
    if len(weights) != len(pads) or not weights:
        raise ValueError(f"need one padding per weight, got {len(weights)} weights and "
                         f"{len(pads)} paddings")
    if not is_tracing():  # (no checks on symbolic sizes)
        louts = [_check_args(x, w, None, stride, p, dilation) for w, p in zip(weights, pads)]
        if len(set(louts)) > 1:
            raise ValueError(f"the branches must give outputs of one length to be concatenated, "
                             f"got lengths {louts} from paddings {pads}: pad each to the same")
        if fuses_branches(x, weights) and len({w.shape[0] for w in weights}) == 1:
            return _DepthwiseConv1dBranches.apply(x, (stride, pads, dilation, louts[0]),
                                                  *weights)
    return torch.cat([depthwise_conv1d(x, w, None, stride, p, dilation)
                      for w, p in zip(weights, pads)], 1)


class _DepthwiseConv1dLast(torch.autograd.Function):
    """Channels-last depthwise conv on CPU: oneDNN's NHWC kernel vectorises over channels.

    At SliceNet's (125, 32, 256) it runs forward in 0.7-1.6 ms against 2-7 ms in (N, C, L), and
    grad_input likewise. Unlike the (N, C, L) kernel it is fast with its own (symmetric)
    padding, so 'same' pads inside and only causal padding copies the input. grad_weight
    (aten's NHWC one takes 35-50 ms at kernel 15-31) is the stride-1 GEMM of the torch route
    on (N, C, L) copies.
    """

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, b: Tensor | None, s: int, pad: tuple[int, int],
                d: int) -> Tensor:
        x = x.detach().contiguous()  # (N, L, C)
        inner = pad[0] if pad[0] == pad[1] else 0
        xin = x if inner or pad == (0, 0) else F.pad(x, (0, 0, *pad))  # what the conv reads
        ctx.conf = (s, d, inner, pad[0], x.shape[1])
        ctx.save_for_backward(xin, w)
        y = F.conv2d(xin.mT.unsqueeze(2), w.detach().unsqueeze(2),
                     None if b is None else b.detach(), (1, s), (0, inner), (1, d), x.shape[2])
        return y.squeeze(2).mT  # channels-last storage: (N, Lout, C*dm) contiguous

    @staticmethod
    @once_differentiable
    def backward(ctx, gy: Tensor) -> tuple:
        xin, w = ctx.saved_tensors
        s, d, inner, left, length = ctx.conf
        gy4 = gy.contiguous().mT.unsqueeze(2)
        need = ctx.needs_input_grad
        gemm = need[1] and s == 1
        gx, gw, _ = torch.ops.aten.convolution_backward(
            gy4, xin.mT.unsqueeze(2), w.unsqueeze(2), None, [1, s], [0, inner], [1, d], False,
            [0, 0], xin.shape[2], [need[0], need[1] and not gemm, False])
        if gemm:  # two transposing copies: faster than any channels-last reordering tried
            xpad = F.pad(xin.mT, (inner, inner)).contiguous()
            gw = _gemm_grad_weight(xpad, gy4.squeeze(2).contiguous(), w.shape[2], d)
        elif gw is not None:
            gw = gw.squeeze(2)
        if need[0]:
            gx = gx.squeeze(2).mT
            gx = gx if inner or gx.shape[1] == length else gx[:, left:left + length]
        return gx, gw, gy.sum((0, 1)) if need[2] else None, None, None, None


def depthwise_conv1d_last(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                          stride: int = 1, padding: tuple[int, int] | int = (0, 0),
                          dilation: int = 1) -> Tensor:
    """`depthwise_conv1d` on channels-last sequences, as sequence models hold them:
    x (N, L, C) -> (N, L_out, C*dm), the same numbers. On CPU (float32/64, bf16; under
    autocast in its dtype) it runs oneDNN's channels-last kernel, faster than any (N, C, L)
    route on short sequences with many channels; elsewhere, and under tracing, the (N, C, L)
    conv between two transposes."""
    if x.dim() != 3:
        raise ValueError(f"x must be (N, L, C), got shape {tuple(x.shape)}")
    pad = (padding, padding) if isinstance(padding, int) else (int(padding[0]), int(padding[1]))
    device = x.device.type
    if not is_tracing() and torch.is_autocast_enabled(device):
        # As autocast runs a conv: in its dtype. (Left to autocast, the custom backward below
        # would meet a bf16 gradient and float32 saved tensors.)
        dt = torch.get_autocast_dtype(device)
        with torch.autocast(device, enabled=False):
            return depthwise_conv1d_last(x.to(dt), weight.to(dt), None if bias is None else
                                         bias.to(dt), stride, pad, dilation)
    same = weight.dtype == x.dtype and (bias is None or bias.dtype == x.dtype)
    if is_tracing() or device != "cpu" or not same or not x.numel() or \
            x.dtype not in (torch.float32, torch.float64, torch.bfloat16):
        return depthwise_conv1d(x.mT, weight, bias, stride, pad, dilation).mT
    _check_args(x.mT, weight, bias, stride, pad, dilation)
    return _DepthwiseConv1dLast.apply(x, weight, bias, stride, pad, dilation)
