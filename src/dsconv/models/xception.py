"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", 2017).

Built to match Figure 5 of the paper and Keras's `keras.applications.Xception` layer for layer,
so that Keras weights load by a fixed name table (see `dsconv.interop.keras`):

    entry flow   block1   conv 32 3x3/2 valid, BN, ReLU; conv 64 3x3 valid, BN, ReLU
                 block2-4 [ReLU] SepConv, BN, ReLU, SepConv, BN, MaxPool 3x3/2 'same'
                          + shortcut 1x1/2 conv + BN             (128, 256, 728 channels)
    middle flow  block5-12 3 x (ReLU, SepConv 728, BN) + identity shortcut
    exit flow    block13  ReLU, SepConv 728, BN, ReLU, SepConv 1024, BN, MaxPool + shortcut
                 block14  SepConv 1536, BN, ReLU, SepConv 2048, BN, ReLU
    head         global average pool, [optional FC layers], [dropout], logistic regression

Module names follow Keras's: `blocks.block2.body.sepconv1` is Keras's `block2_sepconv1`,
`blocks.block2.body.bn1` its `block2_sepconv1_bn`.

With the default config: 22,855,952 trainable parameters and 54,528 BN running statistics
(Table 3 of the paper; Keras's model.summary()).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..layers import Conv2d, MaxPool2dSame, PointwiseConv2d
from .base import ClassifierModel
from .blocks import KerasBatchNorm2d, conv_bn_act, get_act, spatial_conv
from .head import ClassifierHead, init_weights


@dataclass
class XceptionConfig:
    num_classes: int = 1000          # classifier outputs (ImageNet: 1000)
    in_chans: int = 3                # input channels (RGB)
    stem_widths: tuple[int, int] = (32, 64)    # block1's two regular convs
    stem_stride: int = 2             # stride of block1_conv1 (1 suits tiny images)
    stem_padding: str = "valid"      # Keras: 'valid' (299 -> 149 -> 147)
    entry_widths: tuple[int, ...] = (128, 256, 728)  # one strided residual block each
    middle_width: int = 728          # channels through the middle flow
    middle_repeats: int = 8          # the paper repeats the middle block 8 times
    exit_widths: tuple[int, int] = (728, 1024)   # block13's two separable convs
    head_widths: tuple[int, int] = (1536, 2048)  # block14's two separable convs
    include_top: bool = True         # global pool + classifier (Keras's include_top)
    global_pool: str | None = "avg"  # 'avg' | 'max' | None (Keras's pooling when no top)
    drop_rate: float = 0.0           # dropout before the classifier (paper's recipe: 0.5)
    fc_layers: tuple[int, ...] = ()  # the paper's optional FC layers, e.g. (4096, 4096)
    residual: bool = True            # the residual shortcuts (paper's ablation, Figure 9)
    mid_act: str | None = None       # activation inside each separable conv (Figure 10)
    order: str = "depthwise_first"   # or 'pointwise_first' (the "extreme Inception" module)
    conv_mode: str = "separable"     # 'standard' builds the regular-convolution twin
    act_layer: str = "relu"          # the network's activation
    norm_layer: Callable[[int], nn.Module] = KerasBatchNorm2d  # eps 1e-3, Keras momentum
    min_input_size: int = 71         # Keras's documented minimum for Xception


class XceptionBlock(nn.Module):
    """One residual module: [act] sepconv bn ... [maxpool], plus a shortcut.

    (N, in_ch, H, W) -> (N, widths[-1], ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_ch: int, widths: tuple[int, ...], stride: int, start_with_act: bool,
                 cfg: XceptionConfig) -> None:
        super().__init__()
        act = get_act(cfg.act_layer)
        out_ch = widths[-1]
        self.residual = cfg.residual
        self.shortcut: nn.Module | None = None
        if cfg.residual and (stride != 1 or in_ch != out_ch):
            self.shortcut = conv_bn_act(PointwiseConv2d(in_ch, out_ch, stride), out_ch,
                                        cfg.norm_layer, None)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        ch = in_ch
        for i, width in enumerate(widths, 1):
            if i > 1 or start_with_act:
                # The block's first activation must not be in-place: the shortcut still
                # needs the un-activated input.
                a = act()
                if i == 1 and hasattr(a, "inplace"):
                    a.inplace = False
                layers[f"act{i}"] = a
            layers[f"sepconv{i}"] = spatial_conv(cfg.conv_mode, ch, width, 3, 1, "same",
                                                 order=cfg.order, mid_act=cfg.mid_act)
            layers[f"bn{i}"] = cfg.norm_layer(width)
            ch = width
        if stride != 1:
            layers["pool"] = MaxPool2dSame(3, stride)
        self.body = nn.Sequential(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            return out + self.shortcut(x)
        return out + x if self.residual else out


class Xception(ClassifierModel):
    """Xception: `forward_features` (N, C, H, W) -> (N, 2048, H/32, W/32); `forward` -> logits.

    `features_only=True` makes `forward` return the five maps at strides 2, 4, 8, 16, 32
    (described by `feature_info`).
    """

    def __init__(self, cfg: XceptionConfig | None = None, features_only: bool = False,
                 **overrides) -> None:
        super().__init__()
        cfg = XceptionConfig(**{**(cfg.__dict__ if cfg else {}), **overrides})
        if cfg.global_pool not in ("avg", "max", None):
            raise ValueError(f"global_pool={cfg.global_pool!r}: expected 'avg', 'max' or None")
        self.cfg, self.features_only = cfg, features_only
        act = get_act(cfg.act_layer)
        s0, s1 = cfg.stem_widths
        stem = nn.Sequential(OrderedDict([
            *conv_bn_act(Conv2d(cfg.in_chans, s0, 3, cfg.stem_stride, cfg.stem_padding), s0,
                         cfg.norm_layer, act, ("conv1", "bn1", "act1")).named_children(),
            *conv_bn_act(Conv2d(s0, s1, 3, 1, cfg.stem_padding), s1, cfg.norm_layer, act,
                         ("conv2", "bn2", "act2")).named_children(),
        ]))
        blocks: OrderedDict[str, nn.Module] = OrderedDict(block1=stem)
        ch, n = s1, 2
        for i, width in enumerate(cfg.entry_widths):
            # Block 2 starts without an activation: the stem already ends in one.
            blocks[f"block{n}"] = XceptionBlock(ch, (width, width), 2, i > 0, cfg)
            ch, n = width, n + 1
        for _ in range(cfg.middle_repeats):
            blocks[f"block{n}"] = XceptionBlock(ch, (cfg.middle_width,) * 3, 1, True, cfg)
            ch, n = cfg.middle_width, n + 1
        blocks[f"block{n}"] = XceptionBlock(ch, tuple(cfg.exit_widths), 2, True, cfg)
        ch = cfg.exit_widths[-1]
        h0, h1 = cfg.head_widths
        blocks[f"block{n + 1}"] = nn.Sequential(OrderedDict([
            ("sepconv1", spatial_conv(cfg.conv_mode, ch, h0, order=cfg.order,
                                      mid_act=cfg.mid_act)),
            ("bn1", cfg.norm_layer(h0)), ("act1", act()),
            ("sepconv2", spatial_conv(cfg.conv_mode, h0, h1, order=cfg.order,
                                      mid_act=cfg.mid_act)),
            ("bn2", cfg.norm_layer(h1)), ("act2", act()),
        ]))
        self.blocks = nn.Sequential(blocks)
        self.num_features = h1
        last_middle = 1 + len(cfg.entry_widths) + cfg.middle_repeats
        r = cfg.stem_stride
        self.feature_info = [
            dict(num_chs=s1, reduction=r, module="blocks.block1"),
            dict(num_chs=cfg.entry_widths[0], reduction=2 * r, module="blocks.block2"),
            dict(num_chs=cfg.entry_widths[1], reduction=4 * r, module="blocks.block3"),
            dict(num_chs=cfg.middle_width if cfg.middle_repeats else cfg.entry_widths[-1],
                 reduction=8 * r, module=f"blocks.block{last_middle}"),
            dict(num_chs=h1, reduction=16 * r, module=f"blocks.block{n + 1}"),
        ]
        self.head = ClassifierHead(h1, cfg.num_classes, cfg.global_pool, cfg.include_top,
                                   cfg.fc_layers, cfg.drop_rate, act)
        init_weights(self)
