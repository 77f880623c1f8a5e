"""Max-pooling with TensorFlow 'same' padding.

A symmetric `nn.MaxPool2d(3, 2, padding=1)` differs from TensorFlow's 'same' whenever the total
padding is odd (Xception's 147 -> 74 is fine, 74 -> 37 is not: a one-pixel shift). Here the
padding value is -inf, so padded cells never win the max, exactly as in TensorFlow.

'same' never copies the input: TensorFlow pads (p, p) or (p, p + 1) per axis, and PyTorch's
own pooling pads p with -inf on both sides, while `ceil_mode` adds the one trailing window
that the extra pixel opens (the only window that can reach it; stride >= 2 leaves room for
it, stride 1 falls back to an explicit pad). So the ONNX export has a plain MaxPool and no
Pad node, which also keeps an int8 graph in int8 around the pools.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from ..utils import is_tracing
from . import depthwise1d as _dw
from .padding import Padding, pad_same, resolve_padding, same_pad_amounts, to_tuple

_numba = None
if _dw._numba is not None:  # numba importable and not disabled by DSCONV_NO_NUMBA
    from . import _pool1d_numba as _numba


class _MaxPool1dStride1(torch.autograd.Function):
    """The stride-1 max-pool by the numba kernels: aten's numbers and gradients to the bit, and
    no index tensor. With gradients aten's forward also writes int64 indices (6x slower than
    without): at XceptionTime's (64, 256, 512), kernel 3, forward + backward took 89 ms here
    against aten's 270 ms (1 thread, 2-core Skylake under load; forward alone equal)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, k: int, pad: tuple[int, int]) -> torch.Tensor:
        x = x.detach().contiguous()
        ctx.conf = (k, pad)
        ctx.save_for_backward(x)
        return _numba.forward(x, k, pad)

    @staticmethod
    @once_differentiable
    def backward(ctx, gy: torch.Tensor) -> tuple:
        (x,) = ctx.saved_tensors
        return _numba.backward(x, gy.detach().contiguous(), *ctx.conf), None, None


def _numba_pool(x: torch.Tensor, k: int, pad: int) -> bool:
    """Whether a stride-1 pool of x runs on the numba kernels: their route's conditions, and
    at least one window (else aten's error)."""
    return (_numba is not None and _dw.USE_NUMBA and not is_tracing() and x.dim() == 3
            and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and x.numel() * k >= _dw.MIN_NUMBA_MACS and x.shape[2] + 2 * pad >= k)


def _max_pool1d(x: torch.Tensor, kernel_size: tuple[int, ...], stride: tuple[int, ...],
                padding: tuple[int, ...], ceil_mode: bool = False) -> torch.Tensor:
    """F.max_pool1d as a 2-D pool over (N, C, 1, L): the same numbers (aten runs max_pool1d
    with gradients as a 2-D pool anyway), but torch.export keeps the length symbolic, where
    max_pool1d pins it to the traced length and an ONNX export would take that length only.
    Stride 1 on CPU runs the numba kernels where available (ceil_mode adds no window there)."""
    if stride == (1,) and _numba_pool(x, kernel_size[0], padding[0]):
        return _MaxPool1dStride1.apply(x, kernel_size[0], (padding[0], padding[0]))
    y = F.max_pool2d(x.unsqueeze(2), (1, *kernel_size), (1, *stride), (0, *padding),
                     ceil_mode=ceil_mode)
    return y.squeeze(2)


_POOL = {1: _max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


class _MaxPoolSame(nn.Module):
    dims: int

    def __init__(self, kernel_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] | None = None, padding: Padding = "same") -> None:
        super().__init__()
        self.kernel_size = to_tuple(kernel_size, self.dims, "kernel_size")
        self.stride = to_tuple(stride if stride is not None else kernel_size, self.dims, "stride")
        if any(v <= 0 for v in self.kernel_size + self.stride):
            raise ValueError(
                f"kernel_size={kernel_size!r}, stride={stride!r}: must be positive integers"
            )
        ones = (1,) * self.dims
        self.padding, self.dynamic_same, self.explicit_pad = resolve_padding(
            padding, self.kernel_size, self.stride, ones
        )
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"padding={padding!r}: at most half the kernel size")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, *spatial) -> (N, C, *ceil(spatial / stride)) for 'same'."""
        if self.dynamic_same:
            spatial = x.shape[-self.dims:]
            amounts = [same_pad_amounts(n, k, s, 1)
                       for n, k, s in zip(spatial, self.kernel_size, self.stride)]
            # ceil_mode can only add a window where the stride leaves room for one (s >= 2).
            # Under torch.export with a symbolic size the amounts are symbolic, but an ONNX
            # MaxPool's pads are constants: pad explicitly then (a Pad node computes them).
            symbolic = not all(isinstance(v, int) for pair in amounts for v in pair)
            if not symbolic and all(s >= 2 or a == b for (b, a), s in zip(amounts, self.stride)):
                pad = tuple(b for b, _ in amounts)
                return _POOL[self.dims](x, self.kernel_size, self.stride, pad, ceil_mode=True)
            x = pad_same(x, self.kernel_size, self.stride, (1,) * self.dims, value=float("-inf"))
        elif self.explicit_pad is not None:
            x = F.pad(x, self.explicit_pad, value=float("-inf"))
        return _POOL[self.dims](x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool1dSame(_MaxPoolSame):
    """1-D max-pool with TensorFlow padding. (N, C, L) -> (N, C, ceil(L / stride))."""

    dims = 1


class MaxPool2dSame(_MaxPoolSame):
    """2-D max-pool with TensorFlow padding. (N, C, H, W) -> (N, C, ceil(H/s), ceil(W/s))."""

    dims = 2


class MaxPool3dSame(_MaxPoolSame):
    """3-D max-pool with TensorFlow padding. (N, C, D, H, W) -> (N, C, ceil(D/s), ...)."""

    dims = 3


MAXPOOL = {1: MaxPool1dSame, 2: MaxPool2dSame, 3: MaxPool3dSame}


class AdaptiveAvgPool1d(nn.AdaptiveAvgPool1d):
    """nn.AdaptiveAvgPool1d as one matmul with an averaging matrix. (N, C, L) -> (N, C, out).

    Window i spans [floor(i*L/out), ceil((i+1)*L/out)), as torch's. Why a matmul: on the CPU
    torch's adaptive pool is a scalar loop, 2-12x slower than the GEMM forward and 2-5x slower
    forward + backward (XceptionTime's head: L = 512 to 50 over 512 channels). Values equal
    torch's within float rounding (the same terms, summed in another order). It also exports to
    ONNX for every input length: the exporter unrolls torch's pool into windows computed for the
    traced length (the file then fails below `output_size` and silently averages the wrong
    windows at about twice the traced length); under tracing the matrix is built from the
    symbolic length.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.output_size if isinstance(self.output_size, int) else self.output_size[0]
        if is_tracing():
            return x @ averaging_matrix(x.shape[-1], out, x.dtype, x.device)
        return x @ _cached_averaging_matrix(x.shape[-1], out, x.dtype, x.device)


def averaging_matrix(length: int | torch.Tensor, out: int, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    """(length, out): column i averages window i of an adaptive average pool."""
    i = torch.arange(out, device=device)
    start = (i * length) // out
    end = ((i + 1) * length + out - 1) // out
    j = torch.arange(length, device=device).unsqueeze(1)  # (L, 1)
    window = ((j >= start) & (j < end)).to(dtype)  # (L, out)
    return window / (end - start).to(dtype)


@functools.lru_cache(maxsize=64)
def _cached_averaging_matrix(length: int, out: int, dtype: torch.dtype, device: torch.device
                             ) -> torch.Tensor:
    with torch.inference_mode(False):  # a normal tensor, which training may save for backward
        return averaging_matrix(length, out, dtype, device)
