"""Max-pooling with TensorFlow 'same' padding.

A symmetric `nn.MaxPool2d(3, 2, padding=1)` differs from TensorFlow's 'same' whenever the total
padding is odd (Xception's 147 -> 74 is fine, 74 -> 37 is not: a one-pixel shift). Here the
padding value is -inf, so padded cells never win the max, exactly as in TensorFlow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .padding import Padding, pad_same, resolve_padding, to_tuple

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
