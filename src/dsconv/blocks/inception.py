"""The multi-kernel module of InceptionTime and XceptionTime, for sequences (1-D).

    x -> 1x1 bottleneck -> [conv k1 | conv k2 | conv k3]  ┐
    x -> max-pool 3 -> 1x1 --------------------------------┴-> concat (4 * nf channels)

In XceptionTime (Rahimian et al. 2019) the three branch convs are depthwise separable; in
InceptionTime (Fawaz et al. 2020) they are regular convs, followed by BN + ReLU. One module
serves both ends of the spectrum: `ConvStyle.conv_mode` picks separable or standard, and
`segments` (between 1 and the channel count) the Inception points in between. Kernels 39/19/9
(tsai's odd versions of the papers' 40/20/10, so 'same' padding is symmetric).

LITE's first layer (Ismail-Fawaz et al. 2023) is a lighter relative, `MultiplexModule`:

    x -> [conv k1 | conv k2 | conv k3 | fixed filters -> ReLU] -> concat -> BN -> ReLU

regular convs (in LITE and its twin alike) of the authors' even kernels 40/20/10, no bottleneck,
no pooling branch, and hand-crafted filters that are never trained (`layers.FilterBank1d`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import MAXPOOL, FilterBank1d, separable_branches
from .conv import ConvStyle, conv_norm_act


class MultiKernelModule(nn.Module):
    """(N, in_ch, L) -> (N, 4 * nf, L).

    Every conv comes from `style`: the branches from `style.sep_conv` (separable with the
    style's order, mid_act and segments, or the regular twin), the 1x1s from `style.pointwise`.

    The branches all read the bottleneck's output: `separable_branches` runs XceptionTime's
    (separable, depthwise first, no mid_act, default segments and groups) fused where the numba
    kernels run, from the branch modules' own parameters (state_dict unchanged); other styles
    and routes run them one by one.
    """

    def __init__(self, in_ch: int, nf: int, kernels: tuple[int, ...], style: ConvStyle,
                 bottleneck: bool = True, norm_act: bool = False) -> None:
        super().__init__()
        self.bottleneck = style.pointwise(in_ch, nf) if bottleneck else nn.Identity()
        ch = nf if bottleneck else in_ch
        self.convs = nn.ModuleList(style.sep_conv(ch, nf, k) for k in kernels)
        self.pool = MAXPOOL[style.dims](3, 1)
        self.pool_conv = style.pointwise(in_ch, nf)
        out = nf * (len(kernels) + 1)
        self.bn = style.norm(out) if norm_act else nn.Identity()
        self.act = style.act() if norm_act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bottleneck(x)
        y = torch.cat(separable_branches(y, self.convs) + [self.pool_conv(self.pool(x))], 1)
        return self.act(self.bn(y))


def shortcut(in_ch: int, out_ch: int, style: ConvStyle) -> nn.Module:
    """The residual path: BN alone when the widths agree, else a 1x1 conv + BN (tsai's)."""
    if in_ch == out_ch:
        return style.norm(in_ch)
    return conv_norm_act(style.pointwise(in_ch, out_ch), out_ch, style.norm, None)


class ResidualStage(nn.Module):
    """A run of modules with one shortcut from its input to its output, then ReLU.

    (N, in_ch, L) -> (N, out_ch, L). `modules` is the stage's list of modules.
    """

    def __init__(self, modules: list[nn.Module], in_ch: int, out_ch: int, style: ConvStyle,
                 residual: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(*modules)
        self.shortcut = shortcut(in_ch, out_ch, style) if residual else None
        self.act = style.act() if residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return self.act(y + self.shortcut(x)) if self.shortcut is not None else y


class MultiplexModule(nn.Module):
    """LITE's multiplexing layer: (N, in_ch, L) -> (N, nf * len(kernels) + fixed filters, L).

    The branches are regular convs from `style.conv` (no bias; TensorFlow 'same' padding, so
    even kernels pad their extra zero at the end, as Keras does); `fixed`, when given, adds
    its filters' outputs after an activation of their own (the authors' ReLU on the hybrid
    layer). BN + activation over the concatenation.
    """

    def __init__(self, in_ch: int, nf: int, kernels: tuple[int, ...], style: ConvStyle,
                 fixed: FilterBank1d | None = None) -> None:
        super().__init__()
        self.convs = nn.ModuleList(style.conv(in_ch, nf, k) for k in kernels)
        self.fixed = fixed
        self.fixed_act = style.act() if fixed is not None else nn.Identity()
        self.out_channels = nf * len(kernels) + (fixed.out_channels if fixed is not None else 0)
        self.bn = style.norm(self.out_channels)
        self.act = style.act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = [conv(x) for conv in self.convs]
        if self.fixed is not None:
            ys.append(self.fixed_act(self.fixed(x)))
        return self.act(self.bn(torch.cat(ys, 1)))
