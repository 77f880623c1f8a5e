"""MobileNet v1 (Howard et al., "MobileNets", 2017), Table 1 of the paper.

    conv1   conv 32 3x3/2, BN, act
    block1-13  depthwise 3x3 (stride 1 or 2), BN, act, pointwise 1x1, BN, act
               widths 64, 128/2, 128, 256/2, 256, 512/2, 5 x 512, 1024/2, 1024
    head    global average pool, dropout, classifier

Each block is a `SeparableConv2d` with the intermediate BN + activation (`mid_norm`,
`mid_act`) followed by BN + activation. Module names map to Keras's by a fixed table:
`blocks.block3.sepconv.depthwise` is `conv_dw_3`, `.sepconv.mid_norm` is `conv_dw_3_bn`,
`.sepconv.pointwise` is `conv_pw_3`, `.bn` is `conv_pw_3_bn`.

The width multiplier `alpha` thins every layer to int(width * alpha) channels; the resolution
multiplier rho is simply the input size (any size >= 32 works).

Keras's port uses ReLU6 and, for stride-2 depthwise convs, ZeroPadding2D(((0, 1), (0, 1))) +
'valid' padding (`keras_padding=True`, the default): equal to TensorFlow 'same' on even sizes,
not on odd ones. Both are the defaults here so that Keras weights reproduce exactly.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..layers import Conv2d
from .base import ClassifierModel
from .blocks import KerasBatchNorm2d, conv_bn_act, get_act, spatial_conv
from .head import ClassifierHead, init_weights

# (pointwise width, depthwise stride) for the 13 blocks of Table 1.
MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


@dataclass
class MobileNetV1Config:
    num_classes: int = 1000          # classifier outputs
    in_chans: int = 3                # input channels
    alpha: float = 1.0               # width multiplier (paper: 1.0, 0.75, 0.5, 0.25)
    stem_width: int = 32             # conv1's width before alpha
    include_top: bool = True         # global pool + classifier (Keras's include_top)
    global_pool: str | None = "avg"  # 'avg' | 'max' | None when include_top=False
    drop_rate: float = 1e-3          # Keras's default dropout before the classifier
    act_layer: str = "relu6"         # Keras: ReLU6; the paper says ReLU
    conv_mode: str = "separable"     # 'standard' builds the full-convolution twin (Table 4)
    keras_padding: bool = True       # stride-2 depthwise: Keras's (0, 1) zero pad + 'valid'
    norm_layer: Callable[[int], nn.Module] = KerasBatchNorm2d
    min_input_size: int = 32         # Keras's minimum


class MobileNetV1(ClassifierModel):
    """MobileNet v1: `forward_features` (N, C, H, W) -> (N, 1024*alpha, H/32, W/32)."""

    def __init__(self, cfg: MobileNetV1Config | None = None, features_only: bool = False,
                 **overrides) -> None:
        super().__init__()
        cfg = MobileNetV1Config(**{**(cfg.__dict__ if cfg else {}), **overrides})
        if not cfg.alpha > 0:
            raise ValueError(f"alpha={cfg.alpha!r}: the width multiplier must be > 0")
        self.cfg, self.features_only = cfg, features_only
        act = get_act(cfg.act_layer)
        ch = int(cfg.stem_width * cfg.alpha)
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        blocks["conv1"] = conv_bn_act(Conv2d(cfg.in_chans, ch, 3, 2, "same"), ch,
                                      cfg.norm_layer, act)
        self.feature_info = []
        reduction = 2
        for i, (width, stride) in enumerate(MOBILENET_V1_BLOCKS, 1):
            out = int(width * cfg.alpha)
            padding = ((0, 1), (0, 1)) if stride == 2 and cfg.keras_padding else "same"
            conv = spatial_conv(cfg.conv_mode, ch, out, 3, stride, padding,
                                mid_norm=cfg.norm_layer, mid_act=act)
            blocks[f"block{i}"] = conv_bn_act(conv, out, cfg.norm_layer, act,
                                              ("sepconv", "bn", "act"))
            if stride == 2 and i > 1:
                # The map just before each downsampling is a feature level.
                self.feature_info.append(dict(num_chs=ch, reduction=reduction,
                                              module=f"blocks.block{i - 1}"))
            reduction *= stride
            ch = out
        self.feature_info.append(dict(num_chs=ch, reduction=reduction, module="blocks.block13"))
        self.blocks = nn.Sequential(blocks)
        self.num_features = ch
        self.head = ClassifierHead(ch, cfg.num_classes, cfg.global_pool, cfg.include_top,
                                   (), cfg.drop_rate, act)
        init_weights(self)
