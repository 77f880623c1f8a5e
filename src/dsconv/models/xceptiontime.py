"""XceptionTime (Rahimian et al. 2019, arXiv 1911.03803), as tsai implements it.

    4 multi-kernel modules, separable branches (39/19/9), nf * 2^i filters per branch;
    a residual shortcut around modules 1-2 and around 3-4 (1x1 conv + BN), ReLU after each add
    head: adaptive average pool to 50, 1x1 conv-BN-ReLU 32nf -> 16nf -> 8nf -> classes,
          global average

tsai's `XceptionTime(3, 2)` has 399,540 parameters; `xceptiontime(in_chans=3, num_classes=2)`
here has the same (tested). `xceptiontime_standard` is its regular-convolution twin.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..blocks import ConvStyle, conv_norm_act
from ..blocks.inception import MultiKernelModule, ResidualStage
from ..layers import AdaptiveAvgPool1d
from .base import ClassifierModel, init_weights, make_config
from .registry import register_model


@dataclass
class XceptionTimeConfig:
    """XceptionTime's options; a model file stores them flat (`dataclasses.asdict`).

    Attributes:
        num_classes: classifier outputs (0: pooled features).
        in_chans: sensor channels.
        dims: 1 (sequences).
        nf: filters per branch of the first module (doubling per module).
        kernels: the branch kernels (tsai's odd 39/19/9 for the paper's 40/20/10).
        adaptive_size: the head's adaptive average pool length.
        residual: the two shortcuts.
        conv_mode, segments, mid_act, order, act_layer, norm_layer, bn_eps, bn_momentum:
            the convolution style, as `ConvStyle` documents them; every style option is
            open here. BN defaults are PyTorch's (eps 1e-5, momentum 0.1), as tsai's.
        min_input_size: 1, any length ('same' convolutions, adaptive pool).
        include_top, global_pool: kept for the shared head interface (the head is the
            1x1 conv stack of `ConvHead`).
    """

    num_classes: int = 2
    in_chans: int = 3
    dims: int = 1
    nf: int = 16
    kernels: tuple[int, ...] = (39, 19, 9)
    adaptive_size: int = 50
    residual: bool = True
    conv_mode: str = "separable"
    segments: int | None = None
    mid_act: str | None = None
    order: str = "depthwise_first"
    act_layer: str = "relu"
    norm_layer: str = "batchnorm"
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    min_input_size: int = 1
    include_top: bool = True
    global_pool: str | None = "avg"

    def style(self) -> ConvStyle:
        """The convolution style these fields name (every style option is a field here)."""
        return ConvStyle.from_config(self)


class ConvHead(nn.Module):
    """Adaptive pool -> 1x1 conv-BN-ReLU x 3 (halving, then to classes) -> global average.

    (N, C, L) -> (N, num_classes). num_classes=0: the pooled (N, C) features.
    """

    def __init__(self, in_ch: int, num_classes: int, adaptive_size: int, style: ConvStyle
                 ) -> None:
        super().__init__()
        self.include_top = num_classes > 0
        self.num_features = in_ch
        self.pool = AdaptiveAvgPool1d(adaptive_size)  # exports for every length
        self.fc_layers = nn.Sequential(*[
            conv_norm_act(style.pointwise(c, c // 2), c // 2, style.norm, style.act)
            for c in (in_ch, in_ch // 2)])
        self.style = style
        self.fc = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        c = self.num_features // 4
        return conv_norm_act(self.style.pointwise(c, num_classes), num_classes,
                             self.style.norm, self.style.act)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if isinstance(self.fc, nn.Identity) and not pre_logits:
            return x.mean(-1)
        x = self.fc_layers(self.pool(x))
        return x.mean(-1) if pre_logits else self.fc(x).mean(-1)


class XceptionTime(ClassifierModel):
    """XceptionTime: (N, in_chans, L) -> (N, num_classes)."""

    def __init__(self, cfg: XceptionTimeConfig | None = None, features_only: bool = False,
                 **overrides: Any) -> None:
        super().__init__()
        cfg = make_config(XceptionTimeConfig, cfg, overrides)
        self.cfg, self.features_only = cfg, features_only
        style, nb = cfg.style(), len(cfg.kernels) + 1
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        ch = cfg.in_chans
        for s in range(2):
            mods, stage_in = [], ch
            for i in (2 * s, 2 * s + 1):
                mods.append(MultiKernelModule(ch, cfg.nf * 2**i, cfg.kernels, style))
                ch = cfg.nf * 2**i * nb
            stages[f"stage{s + 1}"] = ResidualStage(mods, stage_in, ch, style, cfg.residual)
        self.blocks = nn.Sequential(stages)
        self.num_features = ch
        self.feature_info = [dict(num_chs=cfg.nf * 2 ** (2 * s + 1) * nb, reduction=1,
                                  module=f"blocks.stage{s + 1}", index=s) for s in range(2)]
        self.head = ConvHead(ch, cfg.num_classes, cfg.adaptive_size, style)
        init_weights(self)


@register_model(input_size=(128,),
                expected=dict(params=399_540, tsai_args=dict(in_chans=3, num_classes=2)))
def xceptiontime(**kw: Any) -> XceptionTime:
    """XceptionTime: separable multi-kernel modules for multi-sensor series (tsai-exact)."""
    return XceptionTime(**kw)


@register_model(input_size=(128,))
def xceptiontime_standard(**kw: Any) -> XceptionTime:
    """XceptionTime's twin: every separable branch a regular conv."""
    return XceptionTime(**{"conv_mode": "standard", **kw})
