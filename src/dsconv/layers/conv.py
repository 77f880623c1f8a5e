"""Convolutions with TensorFlow 'same' padding: regular, depthwise and pointwise, in 1-D/2-D/3-D.

Each class *is* a `torch.nn.ConvNd` (same `weight` / `bias` / `groups`), so anything that works
on torch convolutions (BN folding, quantization, ONNX export, `state_dict` loading) works here.
The only difference is `padding`, which also accepts TensorFlow's 'same' with any stride, and
Keras's 'causal' for 1-D. `layer(x, channels_last=True)` takes channels-last data,
(N, *spatial, C), as sequence models hold it (the 1x1 conv is then one matrix product);
`forward_valid` runs unpadded.

One idiom for every dimension: a mixin holds the behaviour, and each public class is a thin
subclass `class DepthwiseConv2d(_Depthwise, nn.Conv2d)` whose `super().__init__` reaches torch's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .depthwise1d import depthwise_conv1d, depthwise_conv1d_last
from .padding import (
    Padding,
    check_positive,
    pad_same,
    resolve_padding,
    same_pad_amounts,
    to_tuple,
)
from .pointwise1d import pointwise_conv1d


class _SameConv:
    """Shared argument checks and forward of every convolution here (mixed into nn.ConvNd)."""

    dims: int

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = 1, padding: Padding = "same",
                 dilation: int | tuple[int, ...] = 1, groups: int = 1, bias: bool = False) -> None:
        check_positive("in_channels", in_channels)
        check_positive("out_channels", out_channels)
        k = to_tuple(kernel_size, self.dims, "kernel_size")
        s = to_tuple(stride, self.dims, "stride")
        d = to_tuple(dilation, self.dims, "dilation")
        for name, v in (("kernel_size", k), ("stride", s), ("dilation", d)):
            check_positive(name, v)
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
        super().__init__(in_channels, out_channels, k, s, static_pad, d, groups, bias)
        # True when TF 'same' padding depends on the input size and is applied per call.
        self.dynamic_same = dynamic_same
        # Explicit (possibly asymmetric) padding in F.pad order, or None.
        self.explicit_pad = explicit

    def _check(self, x: torch.Tensor, channel_axis: int = 1) -> None:
        """A ValueError naming the problem unless x has dims + 2 axes and in_channels."""
        if x.dim() != self.dims + 2:
            layout = (f"(N, C, {'spatial ' * self.dims})" if channel_axis == 1 else
                      f"(N, {'spatial ' * self.dims}C)")
            raise ValueError(
                f"{type(self).__name__} expects a {self.dims + 2}-D input {layout}, got shape "
                f"{tuple(x.shape)}"
            )
        if x.shape[channel_axis] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects {self.in_channels} input channels, got "
                f"{x.shape[channel_axis]} (input shape {tuple(x.shape)})"
            )

    def forward(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """x: (N, C_in, *spatial) -> (N, C_out, *spatial_out); with channels_last,
        (N, *spatial, C_in) -> (N, *spatial_out, C_out) (`forward_last`)."""
        if channels_last:
            return self.forward_last(x)
        self._check(x)
        if self.dynamic_same:
            x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        elif self.explicit_pad is not None:
            x = F.pad(x, self.explicit_pad)
        return self._conv_forward(x, self.weight, self.bias)

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` on channels-last data: x (N, *spatial, C_in) -> (N, *spatial', C_out),
        the same numbers (here by moving the channels; subclasses run it in place)."""
        self._check(x, -1)
        return self.forward(x.movedim(-1, 1)).movedim(1, -1)

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution without any padding ('valid'): for an input that already holds
        the context it needs. Incremental decoding feeds a causal conv its last (k-1)*d
        inputs and the new one, (N, C_in, (k-1)*d + 1) -> (N, C_out, 1)."""
        return _CONV_FN[self.dims](x, self.weight, self.bias, self.stride, 0, self.dilation,
                                   self.groups)


class _Depthwise(_SameConv):
    """One spatial filter per input channel (groups = channels), `depth_multiplier` each.

    Output channel c * depth_multiplier + j comes from input channel c (Keras's order).
    """

    def __init__(self, channels: int, kernel_size: int | tuple[int, ...],
                 stride: int | tuple[int, ...] = 1, padding: Padding = "same",
                 dilation: int | tuple[int, ...] = 1, depth_multiplier: int = 1,
                 bias: bool = False) -> None:
        check_positive("depth_multiplier", depth_multiplier)
        check_positive("channels", channels)
        super().__init__(channels, channels * depth_multiplier, kernel_size, stride, padding,
                         dilation, channels, bias)
        self.depth_multiplier = depth_multiplier


class _Pointwise(_SameConv):
    """1x1 convolution: mixes channels, no spatial extent; `groups` > 1 mixes only within
    each of `groups` channel slices (the super-separable convolution's 1x1 step)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int | tuple[int, ...] = 1,
                 bias: bool = False, groups: int = 1) -> None:
        check_positive("groups", groups)
        super().__init__(in_channels, out_channels, 1, stride, "same", 1, groups, bias)

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, *spatial, C_in) -> (N, *spatial, C_out) as one matrix product over channels
        (per group): on short sequences much faster than the (N, C, L) convolution."""
        if any(s != 1 for s in self.stride):
            return super().forward_last(x)
        self._check(x, -1)
        w = self.weight.flatten(1)  # (C_out, C_in / groups)
        if self.groups == 1:
            return F.linear(x, w, self.bias)
        g = self.groups
        y = torch.einsum("...gi,goi->...go", x.unflatten(-1, (g, -1)),
                         w.view(g, -1, w.shape[1])).flatten(-2)
        return y if self.bias is None else y + self.bias

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """As `forward` (a 1x1 needs no padding), by `forward_last`'s matrix product: for the
        few positions of a decoding step it is ~3x faster than oneDNN's convolution."""
        if any(s != 1 for s in self.stride):
            return super().forward_valid(x)
        return self.forward_last(x.movedim(1, -1)).movedim(-1, 1)


class Conv1d(_SameConv, nn.Conv1d):
    """Regular 1-D convolution. (N, in_channels, L) -> (N, out_channels, L')."""

    dims = 1


class Conv2d(_SameConv, nn.Conv2d):
    """Regular 2-D convolution. (N, in_channels, H, W) -> (N, out_channels, H', W')."""

    dims = 2


class Conv3d(_SameConv, nn.Conv3d):
    """Regular 3-D convolution. (N, in_channels, D, H, W) -> (N, out_channels, D', H', W')."""

    dims = 3


class DepthwiseConv1d(_Depthwise, nn.Conv1d):
    """Depthwise 1-D convolution. (N, C, L) -> (N, C * depth_multiplier, L').

    On CPU it runs `depthwise_conv1d`, 5-10x faster than torch's grouped Conv1d forward and
    backward at XceptionTime's shapes; same numbers within float rounding.
    """

    dims = 1

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> torch.Tensor:
        p = self.padding[0]  # static symmetric padding; 'same'/'causal' were applied by forward
        return depthwise_conv1d(x, weight, bias, self.stride[0], (p, p), self.dilation[0])

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """See `_SameConv.forward_valid`. The one-output case of a decoding step, x (N, C,
        (k-1)*d + 1) -> (N, C, 1), is a product and a sum, ~3x faster than a convolution call."""
        k, d = self.kernel_size[0], self.dilation[0]
        if self.depth_multiplier != 1 or self.stride[0] != 1 or x.shape[-1] != (k - 1) * d + 1:
            return super().forward_valid(x)
        y = (x[..., ::d] * self.weight[:, 0]).sum(-1, keepdim=True)
        return y if self.bias is None else y + self.bias[:, None]

    def pad_amounts(self, length: int) -> tuple[int, int]:
        """The (left, right) zeros `forward` puts around an input of `length` steps."""
        if self.dynamic_same:
            return same_pad_amounts(length, self.kernel_size[0], self.stride[0],
                                    self.dilation[0])
        if self.explicit_pad is not None:
            return self.explicit_pad
        return self.padding[0], self.padding[0]

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, L, C) -> (N, L', C * depth_multiplier) by `depthwise_conv1d_last` (oneDNN's
        channels-last kernel on CPU), the padding as `forward` applies it."""
        self._check(x, -1)
        return depthwise_conv1d_last(x, self.weight, self.bias, self.stride[0],
                                     self.pad_amounts(x.shape[1]), self.dilation[0])


class DepthwiseConv2d(_Depthwise, nn.Conv2d):
    """Depthwise 2-D convolution. (N, C, H, W) -> (N, C * depth_multiplier, H', W')."""

    dims = 2


class DepthwiseConv3d(_Depthwise, nn.Conv3d):
    """Depthwise 3-D convolution. (N, C, D, H, W) -> (N, C * depth_multiplier, D', H', W')."""

    dims = 3


class PointwiseConv1d(_Pointwise, nn.Conv1d):
    """Pointwise 1-D convolution. (N, in_channels, L) -> (N, out_channels, L / stride).

    At stride 1 on CPU it runs `pointwise_conv1d`, a batched matmul 2-4x faster than oneDNN's
    1x1 Conv1d forward and backward at XceptionTime's shapes; same numbers within float
    rounding (exports keep the Conv).
    """

    dims = 1

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> torch.Tensor:
        if self.stride[0] != 1:
            return super()._conv_forward(x, weight, bias)
        return pointwise_conv1d(x, weight, bias, self.groups)


class PointwiseConv2d(_Pointwise, nn.Conv2d):
    """Pointwise 2-D convolution. (N, in_channels, H, W) -> (N, out_channels, H', W')."""

    dims = 2


class PointwiseConv3d(_Pointwise, nn.Conv3d):
    """Pointwise 3-D convolution. (N, in_channels, D, H, W) -> (N, out_channels, ...)."""

    dims = 3


_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONV = {1: Conv1d, 2: Conv2d, 3: Conv3d}
DEPTHWISE = {1: DepthwiseConv1d, 2: DepthwiseConv2d, 3: DepthwiseConv3d}
POINTWISE = {1: PointwiseConv1d, 2: PointwiseConv2d, 3: PointwiseConv3d}
