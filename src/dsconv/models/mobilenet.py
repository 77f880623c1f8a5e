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
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..blocks import ClassifierHead, ConvStyle, conv_norm_act
from .base import ClassifierModel, KerasEntry, init_weights, make_config
from .registry import register_model

# (pointwise width, depthwise stride) for the 13 blocks of Table 1.
MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


@dataclass
class MobileNetV1Config:
    """MobileNet v1's options; a model file stores them flat (`dataclasses.asdict`).

    Attributes:
        num_classes: classifier outputs (0: pooled features).
        in_chans: input channels.
        alpha: the width multiplier (the paper: 1.0, 0.75, 0.5, 0.25).
        stem_width: conv1's width before alpha.
        include_top: global pool + classifier (Keras's include_top).
        global_pool: 'avg' | 'max' | None (None only without a top).
        drop_rate: dropout before the classifier (Keras's default 1e-3).
        act_layer: the network's activation, also after each depthwise step (Keras: ReLU6;
            the paper says ReLU).
        conv_mode, norm_layer, bn_eps, bn_momentum: the convolution style, as `ConvStyle`
            documents them; 'standard' builds the full-convolution twin (Table 4). BN
            defaults are Keras's (eps 1e-3, momentum 0.99 = 0.01 here).
        keras_padding: stride-2 depthwise convs pad Keras's way, (0, 1) zeros + 'valid'.
        min_input_size: the smallest side accepted (Keras's 32).

    The paper's design fixes the rest of the style: images (dims 2), depthwise first, BN +
    act_layer between the two steps, depthwise (no segments); `order`, `mid_act` and
    `segments` are refused as unknown options.
    """

    num_classes: int = 1000
    in_chans: int = 3
    alpha: float = 1.0
    stem_width: int = 32
    include_top: bool = True
    global_pool: str | None = "avg"
    drop_rate: float = 1e-3
    act_layer: str = "relu6"
    conv_mode: str = "separable"
    keras_padding: bool = True
    norm_layer: str = "batchnorm"
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01
    min_input_size: int = 32

    def style(self) -> ConvStyle:
        """The convolution style: images, depthwise first, and the depthwise step followed by
        BN + the network's activation (mid_act = act_layer), as in the paper's Figure 3."""
        separable = self.conv_mode == "separable"  # (the twin's regular conv has no middle)
        return ConvStyle.from_config(self, dims=2, mid_act=self.act_layer if separable else None)


class MobileNetV1(ClassifierModel):
    """MobileNet v1: `forward_features` (N, C, H, W) -> (N, 1024*alpha, H/32, W/32)."""

    def __init__(self, cfg: MobileNetV1Config | None = None, features_only: bool = False,
                 **overrides: Any) -> None:
        super().__init__()
        cfg = make_config(MobileNetV1Config, cfg, overrides)
        if not cfg.alpha > 0:
            raise ValueError(f"alpha={cfg.alpha!r}: the width multiplier must be > 0")
        self.cfg, self.features_only = cfg, features_only
        style = cfg.style()
        ch = int(cfg.stem_width * cfg.alpha)
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        blocks["conv1"] = conv_norm_act(style.conv(cfg.in_chans, ch, 3, 2, "same"), ch,
                                        style.norm, style.act)
        self.feature_info = []
        reduction = 2
        for i, (width, stride) in enumerate(MOBILENET_V1_BLOCKS, 1):
            out = int(width * cfg.alpha)
            padding = ((0, 1), (0, 1)) if stride == 2 and cfg.keras_padding else "same"
            conv = style.sep_conv(ch, out, 3, stride, padding, mid_norm=True)
            blocks[f"block{i}"] = conv_norm_act(conv, out, style.norm, style.act,
                                                ("sepconv", "bn", "act"))
            if stride == 2 and i > 1:
                # The map just before each downsampling is a feature level.
                self.feature_info.append(dict(num_chs=ch, reduction=reduction,
                                              module=f"blocks.block{i - 1}", index=i - 1))
            reduction *= stride
            ch = out
        self.feature_info.append(dict(num_chs=ch, reduction=reduction, module="blocks.block13",
                                      index=13))
        self.blocks = nn.Sequential(blocks)
        self.num_features = ch
        self.head = ClassifierHead(ch, cfg.num_classes, cfg.global_pool, cfg.include_top,
                                   (), cfg.drop_rate, style.act)
        init_weights(self)

    def keras_layers(self) -> list[KerasEntry]:
        """conv1, then per block: conv_dw_i, its BN, conv_pw_i, its BN; then conv_preds."""
        t = [KerasEntry("conv1", "blocks.conv1.conv"), KerasEntry("conv1_bn", "blocks.conv1.bn")]
        for i in range(1, 14):
            t += [KerasEntry(f"conv_dw_{i}", f"blocks.block{i}.sepconv.depthwise"),
                  KerasEntry(f"conv_dw_{i}_bn", f"blocks.block{i}.sepconv.mid_norm"),
                  KerasEntry(f"conv_pw_{i}", f"blocks.block{i}.sepconv.pointwise"),
                  KerasEntry(f"conv_pw_{i}_bn", f"blocks.block{i}.bn")]
        return t + self._head_keras_layers("conv_preds")


@register_model(input_size=(224, 224), keras_classifier="conv_preds",
                expected=dict(params=4_231_976, bn_stats=21_888, macs=569e6, top1=0.706))
def mobilenet_v1(**kw: Any) -> MobileNetV1:
    """MobileNet v1 1.0 (Keras-exact: ReLU6, Keras padding)."""
    return MobileNetV1(**kw)


@register_model(input_size=(224, 224), expected=dict(params=29.3e6, macs=4866e6))
def mobilenet_v1_standard(**kw: Any) -> MobileNetV1:
    """MobileNet v1's full-convolution twin (Table 4)."""
    return MobileNetV1(**{"conv_mode": "standard", **kw})
