"""InceptionTime (Fawaz et al. 2020, "InceptionTime: Finding AlexNet for Time Series
Classification"), one network of the paper's ensemble of five, as tsai implements it.

    6 multi-kernel modules, regular-conv branches 39/19/9 (the paper's 40/20/10 made odd),
    32 filters each, bottleneck 32, BN + ReLU after each module;
    a residual shortcut every 3 modules, ReLU after each add
    head: global average pool, linear classifier

tsai's `InceptionTime(3, 2)` has 455,490 parameters; `inceptiontime(in_chans=3,
num_classes=2)` here has the same (tested). It is the Inception end of the spectrum that
XceptionTime is the separable end of: `conv_mode='separable'` or `segments` move it along.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..blocks import ClassifierHead, ConvStyle
from ..blocks.inception import MultiKernelModule, ResidualStage
from .base import ClassifierModel, init_weights, make_config
from .registry import register_model


@dataclass
class InceptionTimeConfig:
    """InceptionTime's options; a model file stores them flat (`dataclasses.asdict`).

    Attributes:
        num_classes: classifier outputs (0: pooled features).
        in_chans: sensor channels.
        dims: 1 (sequences).
        nf: filters per branch, and the bottleneck's width.
        depth: multi-kernel modules (a multiple of residual_every).
        residual_every: modules per residual shortcut.
        kernels: the branch kernels (tsai's odd 39/19/9 for the paper's 40/20/10).
        residual: the shortcuts.
        conv_mode, segments, act_layer, norm_layer, bn_eps, bn_momentum: the convolution
            style, as `ConvStyle` documents them; 'separable' gives XceptionTime-style
            branches, and `segments` (with 'separable') the points between. BN defaults are
            PyTorch's (eps 1e-5, momentum 0.1), as tsai's.
        drop_rate: dropout before the classifier.
        include_top, global_pool: the head (global average pool, linear classifier).
        min_input_size: 1, any length.

    `order` and `mid_act` are refused as unknown options (tsai's InceptionTime has neither);
    with conv_mode='separable' the style keeps ConvStyle's: depthwise first, nothing between.
    """

    num_classes: int = 2
    in_chans: int = 3
    dims: int = 1
    nf: int = 32
    depth: int = 6
    residual_every: int = 3
    kernels: tuple[int, ...] = (39, 19, 9)
    residual: bool = True
    conv_mode: str = "standard"
    segments: int | None = None
    act_layer: str = "relu"
    norm_layer: str = "batchnorm"
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    drop_rate: float = 0.0
    include_top: bool = True
    global_pool: str | None = "avg"
    min_input_size: int = 1

    def style(self) -> ConvStyle:
        """The convolution style these fields name; order and mid_act keep ConvStyle's
        defaults (depthwise first, no activation inside), as tsai's InceptionTime has none."""
        return ConvStyle.from_config(self)


class InceptionTime(ClassifierModel):
    """InceptionTime: (N, in_chans, L) -> (N, num_classes)."""

    def __init__(self, cfg: InceptionTimeConfig | None = None, features_only: bool = False,
                 **overrides: Any) -> None:
        super().__init__()
        cfg = make_config(InceptionTimeConfig, cfg, overrides)
        if cfg.depth % cfg.residual_every:
            raise ValueError(f"depth={cfg.depth} must be a multiple of residual_every="
                             f"{cfg.residual_every}")
        self.cfg, self.features_only = cfg, features_only
        style, width = cfg.style(), cfg.nf * (len(cfg.kernels) + 1)
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        ch = cfg.in_chans
        for s in range(cfg.depth // cfg.residual_every):
            mods, stage_in = [], ch
            for _ in range(cfg.residual_every):
                # tsai: no bottleneck for a single input channel (nothing to mix).
                mods.append(MultiKernelModule(ch, cfg.nf, cfg.kernels, style, ch > 1,
                                              norm_act=True))
                ch = width
            stages[f"stage{s + 1}"] = ResidualStage(mods, stage_in, ch, style, cfg.residual)
        self.blocks = nn.Sequential(stages)
        self.num_features = width
        self.feature_info = [dict(num_chs=width, reduction=1, module=f"blocks.{n}", index=i)
                             for i, n in enumerate(stages)]
        self.head = ClassifierHead(width, cfg.num_classes, cfg.global_pool, cfg.include_top,
                                   (), cfg.drop_rate, style.act)
        init_weights(self)


@register_model(input_size=(128,),
                expected=dict(params=455_490, tsai_args=dict(in_chans=3, num_classes=2)))
def inceptiontime(**kw: Any) -> InceptionTime:
    """InceptionTime: one network of the paper's ensemble (tsai-exact), regular convs."""
    return InceptionTime(**kw)
