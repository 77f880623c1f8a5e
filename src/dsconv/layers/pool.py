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

import torch
import torch.nn.functional as F
from torch import nn

from .padding import Padding, pad_same, resolve_padding, same_pad_amounts, to_tuple

_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


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
            if all(s >= 2 or a == b for (b, a), s in zip(amounts, self.stride)):
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
