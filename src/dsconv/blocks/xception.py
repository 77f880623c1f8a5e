"""The Xception module (Chollet 2017, Figure 5), in any number of spatial dims.

    [act] sepconv bn  [act] sepconv bn  ...  [maxpool 3/stride]   +  shortcut

The shortcut is the identity, or a strided 1x1 conv + BN where the shape changes; without
`residual` (the paper's Figure 9 ablation) there is none.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..layers import MAXPOOL
from .conv import ConvStyle, conv_norm_act


class XceptionBlock(nn.Module):
    """(N, in_ch, *S) -> (N, widths[-1], *ceil(S / stride)).

    Module names follow Keras's (`body.sepconv1`, `body.bn1`, `shortcut.conv`), so weight
    tables stay fixed.
    """

    def __init__(self, in_ch: int, widths: tuple[int, ...], stride: int, start_with_act: bool,
                 style: ConvStyle, residual: bool = True, kernel_size: int = 3) -> None:
        super().__init__()
        out_ch = widths[-1]
        self.residual = residual
        self.shortcut: nn.Module | None = None
        if residual and (stride != 1 or in_ch != out_ch):
            self.shortcut = conv_norm_act(style.pointwise(in_ch, out_ch, stride), out_ch,
                                          style.norm, None)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        ch = in_ch
        for i, width in enumerate(widths, 1):
            if i > 1 or start_with_act:
                a = style.act()
                if i == 1 and hasattr(a, "inplace"):
                    # Not in place: the shortcut still needs the un-activated input.
                    a.inplace = False
                layers[f"act{i}"] = a
            layers[f"sepconv{i}"] = style.sep_conv(ch, width, kernel_size)
            layers[f"bn{i}"] = style.norm(width)
            ch = width
        if stride != 1:
            layers["pool"] = MAXPOOL[style.dims](3, stride)
        self.body = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            return out + self.shortcut(x)
        return out + x if self.residual else out
