"""Convolutions with TensorFlow 'same' padding: regular, depthwise and pointwise, in 1-D/2-D/3-D.

Each class *is* a `torch.nn.ConvNd` (same `weight` / `bias` / `groups`), so anything that works
on torch convolutions (BN folding, quantization, ONNX export, `state_dict` loading) works here.
The only difference is `padding`, which also accepts TensorFlow's 'same' with any stride.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .padding import Padding, pad_same, resolve_padding, to_tuple

_TORCH_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def check_positive(name: str, value: int | tuple[int, ...]) -> None:
    """Raise a ValueError naming `name` when any entry of `value` is not a positive int."""
    values = value if isinstance(value, tuple) else (value,)
    if any((not isinstance(v, int)) or v <= 0 for v in values):
        raise ValueError(f"{name}={value!r}: must be a positive integer")


class _SameConvMixin:
    """Shared __init__ checks and forward for the N-d convolutions below."""

    dims: int

    def _init_conv(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...],
        padding: Padding,
        dilation: int | tuple[int, ...],
        groups: int,
        bias: bool,
    ) -> None:
        check_positive("in_channels", in_channels)
        check_positive("out_channels", out_channels)
        k = to_tuple(kernel_size, self.dims, "kernel_size")
        s = to_tuple(stride, self.dims, "stride")
        d = to_tuple(dilation, self.dims, "dilation")
        check_positive("kernel_size", k)
        check_positive("stride", s)
        check_positive("dilation", d)
        if any(v > 1 for v in s) and any(v > 1 for v in d):
            # TensorFlow refuses this combination; refusing it too keeps Keras parity honest.
            raise ValueError(
                f"stride={stride!r} with dilation={dilation!r}: stride > 1 and dilation > 1 "
                "cannot be combined; use one or the other"
            )
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups={groups}: must divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        static_pad, dynamic_same, explicit = resolve_padding(padding, k, s, d)
        _TORCH_CONV[self.dims].__init__(  # type: ignore[misc]
            self, in_channels, out_channels, k, s, static_pad, d, groups, bias
        )
        # True when TF 'same' padding depends on the input size and is applied per call.
        self.dynamic_same = dynamic_same
        # Explicit (possibly asymmetric) padding in F.pad order, or None.
        self.explicit_pad = explicit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C_in, *spatial) -> (N, C_out, *spatial_out)."""
        if x.dim() != self.dims + 2:
            raise ValueError(
                f"{type(self).__name__} expects a {self.dims + 2}-D input (N, C, "
                f"{'spatial ' * self.dims}), got shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_channels} input channels, got "
                f"{x.shape[1]} (input shape {tuple(x.shape)})"
            )
        if self.dynamic_same:
            x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        elif self.explicit_pad is not None:
            x = F.pad(x, self.explicit_pad)
        return self._conv_forward(x, self.weight, self.bias)  # type: ignore[attr-defined]


def _make(dims: int, kind: str):
    base = _TORCH_CONV[dims]

    if kind == "conv":

        class Conv(_SameConvMixin, base):  # type: ignore[valid-type,misc]
            def __init__(self, in_channels: int, out_channels: int,
                         kernel_size: int | tuple[int, ...], stride: int | tuple[int, ...] = 1,
                         padding: Padding = "same", dilation: int | tuple[int, ...] = 1,
                         groups: int = 1, bias: bool = False) -> None:
                self._init_conv(in_channels, out_channels, kernel_size, stride, padding,
                                dilation, groups, bias)

        Conv.__doc__ = (
            f"Regular {dims}-D convolution with TensorFlow 'same' padding.\n\n"
            f"Input (N, in_channels, *spatial) -> (N, out_channels, *spatial / stride)."
        )
        cls = Conv
    elif kind == "depthwise":

        class Depthwise(_SameConvMixin, base):  # type: ignore[valid-type,misc]
            def __init__(self, channels: int, kernel_size: int | tuple[int, ...],
                         stride: int | tuple[int, ...] = 1, padding: Padding = "same",
                         dilation: int | tuple[int, ...] = 1, depth_multiplier: int = 1,
                         bias: bool = False) -> None:
                if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
                    raise ValueError(
                        f"depth_multiplier={depth_multiplier!r}: must be a positive integer"
                    )
                check_positive("channels", channels)
                self.depth_multiplier = depth_multiplier
                self._init_conv(channels, channels * depth_multiplier, kernel_size, stride,
                                padding, dilation, channels, bias)

        Depthwise.__doc__ = (
            f"Depthwise {dims}-D convolution: one spatial filter per input channel (groups = "
            f"channels), `depth_multiplier` filters each.\n\n"
            f"Input (N, channels, *spatial) -> (N, channels * depth_multiplier, *spatial / stride)."
            f"\nOutput channel c * depth_multiplier + j comes from input channel c (Keras's order)."
        )
        cls = Depthwise
    else:

        class Pointwise(_SameConvMixin, base):  # type: ignore[valid-type,misc]
            def __init__(self, in_channels: int, out_channels: int,
                         stride: int | tuple[int, ...] = 1, bias: bool = False) -> None:
                self._init_conv(in_channels, out_channels, 1, stride, "same", 1, 1, bias)

        Pointwise.__doc__ = (
            f"Pointwise (1x1) {dims}-D convolution: mixes channels, no spatial extent.\n\n"
            f"Input (N, in_channels, *spatial) -> (N, out_channels, *spatial / stride)."
        )
        cls = Pointwise
    name = {"conv": "Conv", "depthwise": "DepthwiseConv", "pointwise": "PointwiseConv"}[kind]
    cls.__name__ = cls.__qualname__ = f"{name}{dims}d"
    cls.dims = dims
    cls.__module__ = __name__
    return cls


Conv1d = _make(1, "conv")
Conv2d = _make(2, "conv")
Conv3d = _make(3, "conv")
DepthwiseConv1d = _make(1, "depthwise")
DepthwiseConv2d = _make(2, "depthwise")
DepthwiseConv3d = _make(3, "depthwise")
PointwiseConv1d = _make(1, "pointwise")
PointwiseConv2d = _make(2, "pointwise")
PointwiseConv3d = _make(3, "pointwise")

CONV = {1: Conv1d, 2: Conv2d, 3: Conv3d}
DEPTHWISE = {1: DepthwiseConv1d, 2: DepthwiseConv2d, 3: DepthwiseConv3d}
POINTWISE = {1: PointwiseConv1d, 2: PointwiseConv2d, 3: PointwiseConv3d}
