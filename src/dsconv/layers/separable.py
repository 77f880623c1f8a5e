"""Depthwise separable convolution, in both orders and across the Inception "spectrum".

Xception (Chollet 2017, section 2) frames a family of operators between two ends:

* a regular convolution, which maps cross-channel and spatial correlations jointly, and
* a depthwise separable convolution, which maps them apart: a per-channel spatial filter
  (depthwise) and a 1x1 channel mixer (pointwise).

An Inception module sits in between: a 1x1 convolution, then spatial convolutions over a few
channel *segments*. `segments` spans that spectrum: the spatial step runs with
`groups=segments`, so 1 is a regular convolution after/before the 1x1, and `segments=channels`
(the default) is depthwise.

`order='depthwise_first'` is TensorFlow's SeparableConv2D (what Xception is built from);
`order='pointwise_first'` is the paper's "extreme Inception" module (1x1 first). The paper
argues the order barely matters in a stacked network; here you can check.

`mid_norm` / `mid_act` put a normalisation / activation between the two steps: the paper's
ablation (Figure 10) found *no* intermediate activation best, hence the default None.

`groups` > 1 is the *super-separable* convolution of SliceNet (Kaiser, Gomez, Chollet 2017,
section 2.2): the channels split into `groups` slices, each with its own separable conv and no
mixing across slices. The depthwise step is per channel anyway, so that is a grouped 1x1:
k*c + c^2/g parameters instead of k*c + c^2 (c channels in and out).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .conv import CONV, DEPTHWISE, POINTWISE, DepthwiseConv1d, PointwiseConv1d
from .depthwise1d import depthwise_conv1d_branches, fuses_branches
from .padding import Padding, check_positive

ORDERS = ("depthwise_first", "pointwise_first")
FUSE_BRANCHES: bool = True  # run-time switch: False runs `separable_branches` one by one


def _build(spec: nn.Module | Callable[..., nn.Module] | None, name: str, *args) -> nn.Module:
    """A module from a factory (nn.ReLU, partial(nn.BatchNorm2d, eps=1e-3)), an instance
    (nn.ReLU(): copied, so layers never share one) or None (identity)."""
    if spec is None:
        return nn.Identity()
    if isinstance(spec, nn.Module):
        return copy.deepcopy(spec)
    if callable(spec):
        return spec(*args)
    raise ValueError(f"{name}={spec!r}: expected a module, a factory returning one, or None")


class SeparableConv(nn.Module):
    """The depthwise separable convolution of any dimension: the base of SeparableConv1d/2d/3d,
    public so code can recognise all three (`isinstance(m, SeparableConv)`): fusing BNs, Keras
    layouts. Build one through a subclass (or `SEPARABLE[dims]`), which sets `dims`.

    Submodules: `depthwise` (the spatial step, grouped by `segments`), `pointwise` (1x1),
    `mid_norm` / `mid_act` between them (nn.Identity when not asked for).
    """

    dims: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: Padding = "same",
        dilation: int | tuple[int, ...] = 1,
        depth_multiplier: int = 1,
        bias: bool = False,
        order: str = "depthwise_first",
        mid_norm: nn.Module | Callable[[int], nn.Module] | None = None,
        mid_act: nn.Module | Callable[[], nn.Module] | None = None,
        segments: int | None = None,
        groups: int = 1,
    ) -> None:
        super().__init__()
        check_positive("in_channels", in_channels)
        check_positive("out_channels", out_channels)
        check_positive("depth_multiplier", depth_multiplier)
        if order not in ORDERS:
            raise ValueError(f"order={order!r}: expected one of {', '.join(map(repr, ORDERS))}")
        if order == "pointwise_first" and depth_multiplier != 1:
            raise ValueError(
                f"depth_multiplier={depth_multiplier}: order='pointwise_first' needs "
                "depth_multiplier=1 (the spatial step must keep out_channels)"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.order, self.depth_multiplier = order, depth_multiplier
        # Channels the spatial (grouped) step sees.
        spatial_ch = in_channels if order == "depthwise_first" else out_channels
        segments = spatial_ch if segments is None else segments
        if not isinstance(segments, int) or segments <= 0 or spatial_ch % segments:
            raise ValueError(
                f"segments={segments!r}: must be a positive divisor of the {spatial_ch} channels "
                f"of the spatial step (1 = regular convolution, {spatial_ch} = depthwise)"
            )
        self.segments = segments
        mid_ch = in_channels * depth_multiplier if order == "depthwise_first" else out_channels
        spatial_bias = bias and order == "pointwise_first"
        if segments == spatial_ch:
            spatial: nn.Module = DEPTHWISE[self.dims](
                spatial_ch, kernel_size, stride, padding, dilation, depth_multiplier, spatial_bias
            )
        else:
            spatial = CONV[self.dims](
                spatial_ch, spatial_ch * depth_multiplier, kernel_size, stride, padding,
                dilation, groups=segments, bias=spatial_bias,
            )
        pw_in = in_channels if order == "pointwise_first" else mid_ch
        if not isinstance(groups, int) or groups <= 0 or pw_in % groups or out_channels % groups:
            raise ValueError(
                f"groups={groups!r}: must be a positive divisor of the 1x1 step's {pw_in} input "
                f"and {out_channels} output channels (1 = separable, > 1 = super-separable)"
            )
        self.groups = groups
        pointwise = POINTWISE[self.dims](
            pw_in, out_channels, bias=bias and order == "depthwise_first", groups=groups,
        )
        # Submodule names stay 'depthwise' and 'pointwise' in both orders, so weight maps are a
        # fixed table; the spatial step is depthwise unless `segments` says otherwise.
        self.depthwise = spatial
        self.pointwise = pointwise
        self.mid_norm = _build(mid_norm, "mid_norm", mid_ch)
        self.mid_act = _build(mid_act, "mid_act")

    def _steps(self) -> tuple[nn.Module, nn.Module]:
        """(first, second) conv in the layer's order."""
        if self.order == "depthwise_first":
            return self.depthwise, self.pointwise
        return self.pointwise, self.depthwise

    def forward(self, x: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """x: (N, in_channels, *spatial) -> (N, out_channels, *spatial / stride); with
        channels_last, (N, *spatial, in_channels) -> (N, *spatial', out) (`forward_last`)."""
        if channels_last:
            return self.forward_last(x)
        first, second = self._steps()
        return second(self.mid_act(self.mid_norm(first(x))))

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` on channels-last data, x (N, *spatial, C_in) -> (N, *spatial', C_out): the
        1x1 step as a matrix product, the spatial one channels-last where the layer has that;
        a mid norm / activation sees (N, C, *spatial), as in `forward`. The steps are called
        as modules, so hooks (the cost profiler's) see them."""
        if self.order == "depthwise_first":
            h = self.depthwise(x, channels_last=True)
            if not (isinstance(self.mid_norm, nn.Identity) and isinstance(self.mid_act,
                                                                          nn.Identity)):
                h = self.mid_act(self.mid_norm(h.movedim(-1, 1))).movedim(1, -1)
            return self.pointwise(h, channels_last=True)
        h = self.mid_act(self.mid_norm(self.pointwise(x, channels_last=True).movedim(-1, 1)))
        return self.depthwise(h.movedim(1, -1), channels_last=True)

    def forward_valid(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` without padding, for an input that already holds the context the spatial
        step needs (incremental decoding): (N, in_channels, (k-1)*d + 1) -> (N, out, 1)."""
        first, second = self._steps()
        return second.forward_valid(self.mid_act(self.mid_norm(first.forward_valid(x))))

    def extra_repr(self) -> str:
        groups = f", groups={self.groups}" if self.groups > 1 else ""
        return (f"{self.in_channels}, {self.out_channels}, order={self.order!r}, "
                f"segments={self.segments}{groups}")


class SeparableConv1d(SeparableConv):
    """1-D depthwise separable convolution. (N, C_in, L) -> (N, C_out, ceil(L / stride))."""

    dims = 1


class SeparableConv2d(SeparableConv):
    """2-D depthwise separable convolution. (N, C_in, H, W) -> (N, C_out, H', W')."""

    dims = 2


class SeparableConv3d(SeparableConv):
    """3-D depthwise separable convolution. (N, C_in, D, H, W) -> (N, C_out, D', H', W')."""

    dims = 3


SEPARABLE = {1: SeparableConv1d, 2: SeparableConv2d, 3: SeparableConv3d}


def _hooked(module: nn.Module) -> bool:
    """True if a forward hook would see `module` or a submodule run (the cost profiler's,
    quantization observers'), or a global hook any module."""
    glob = nn.modules.module
    if getattr(glob, "_global_forward_hooks", None) or \
            getattr(glob, "_global_forward_pre_hooks", None):
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


def _fusable(conv: nn.Module) -> bool:
    """A branch the fused path computes as its `forward` would: separable 1-D, depthwise first,
    nothing between the steps, a plain 1x1 (one group, stride 1) after a stride-1 depthwise."""
    return (type(conv) is SeparableConv1d and conv.order == "depthwise_first"
            and isinstance(conv.mid_norm, nn.Identity) and isinstance(conv.mid_act, nn.Identity)
            and type(conv.depthwise) is DepthwiseConv1d and conv.depthwise.stride == (1,)
            and type(conv.pointwise) is PointwiseConv1d and conv.pointwise.groups == 1
            and conv.pointwise.stride == (1,))


def fuses_separable_branches(x: torch.Tensor, convs: Sequence[nn.Module]) -> bool:
    """Whether `separable_branches(x, convs)` runs them fused: every branch `_fusable`, one
    dilation, all 1x1s with or all without bias, no forward hooks (the fused path calls no
    branch module, so a hook would see nothing) and the numba route (`fuses_branches`)."""
    if not (FUSE_BRANCHES and convs and all(_fusable(c) for c in convs)):
        return False
    dws = [c.depthwise for c in convs]
    return (len({d.dilation for d in dws}) == 1
            and len({c.pointwise.bias is None for c in convs}) == 1
            and not any(_hooked(c) for c in convs)
            and fuses_branches(x, [d.weight for d in dws]))


def pointwise_branches(z: torch.Tensor, convs: Sequence[nn.Conv1d]) -> torch.Tensor:
    """Branch 1x1 convs as one batched matmul: z (N, B*C, L), branch j's input in channels
    [j*C, (j+1)*C), convs[j] (C -> O) -> (N, B*O, L), their outputs concatenated. At
    XceptionTime's last module (3 x 128 -> 128 channels, 64 x 512 steps) forward + backward
    took 275 ms against 521 ms for 3 oneDNN 1x1 convs and their concatenation (1 thread)."""
    w = torch.stack([c.weight[..., 0] for c in convs])  # (B, O, C)
    y = torch.matmul(w, z.unflatten(1, (len(convs), -1)))  # (N, B, O, L)
    if convs[0].bias is not None:
        y = y + torch.stack([c.bias for c in convs])[..., None]
    return y.flatten(1, 2)


def separable_branches(x: torch.Tensor, convs: Sequence[nn.Module]) -> list[torch.Tensor]:
    """Several convs of one input x (N, C, L) (the multi-kernel module's branches): tensors whose
    concatenation along channels is torch.cat([conv(x) for conv in convs], 1).

    Where `fuses_separable_branches` (XceptionTime's separable branches on the numba route),
    one kernel computes every depthwise conv in one pass over x (`depthwise_conv1d_branches`,
    forward and backward) and the 1x1s are one batched matmul (`pointwise_branches`), from the
    modules' own parameters; otherwise each conv runs as a module.
    """
    convs = list(convs)
    if not fuses_separable_branches(x, convs):
        return [conv(x) for conv in convs]
    dws = [c.depthwise for c in convs]
    pads = [d.pad_amounts(x.shape[2]) for d in dws]
    z = depthwise_conv1d_branches(x, [d.weight for d in dws], pads, 1, dws[0].dilation[0])
    return [pointwise_branches(z, [c.pointwise for c in convs])]
