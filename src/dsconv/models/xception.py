"""Xception (Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", 2017).

Built to match Figure 5 of the paper and Keras's `keras.applications.Xception` layer for layer,
so that Keras weights load by a fixed name table (`Xception.keras_layers`):

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
(Table 3 of the paper; Keras's model.summary()). `dims=1` gives the same flows for sequences.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..blocks import ClassifierHead, ConvStyle, XceptionBlock, conv_norm_act
from .base import ClassifierModel, KerasEntry, init_weights, make_config
from .registry import register_model


@dataclass
class XceptionConfig:
    """Xception's options; a model file stores them flat (`dataclasses.asdict`).

    Attributes:
        num_classes: classifier outputs (ImageNet: 1000; 0: pooled features).
        in_chans: input channels (3: RGB).
        dims: 2 for images, 1 for sequences (xception1d), 3 for volumes.
        kernel_size: of every separable conv (long kernels suit sequences).
        stem_widths: block1's two regular convs.
        stem_stride: stride of block1_conv1 (1 suits tiny images).
        stem_padding: of both stem convs; Keras's 'valid' (299 -> 149 -> 147).
        entry_widths: the entry flow, one strided residual block each.
        middle_width: channels through the middle flow.
        middle_repeats: middle blocks (the paper: 8).
        exit_widths: block13's two separable convs.
        head_widths: block14's two separable convs.
        include_top: global pool + classifier (Keras's include_top).
        global_pool: 'avg' | 'max' | None (Keras's pooling, None only without a top).
        drop_rate: dropout before the classifier (the paper's recipe: 0.5).
        fc_layers: the paper's optional FC layers before the classifier, e.g. (4096, 4096).
        residual: the residual shortcuts (off: the paper's Figure 9 ablation).
        mid_act, order, conv_mode, segments, act_layer, norm_layer, bn_eps, bn_momentum:
            the convolution style, as `ConvStyle` documents them; every style option is
            open here. BN defaults are Keras's (eps 1e-3, momentum 0.99 = 0.01 here).
        min_input_size: the smallest side accepted (Keras's documented 71).
    """

    num_classes: int = 1000
    in_chans: int = 3
    dims: int = 2
    kernel_size: int = 3
    stem_widths: tuple[int, int] = (32, 64)
    stem_stride: int = 2
    stem_padding: str = "valid"
    entry_widths: tuple[int, ...] = (128, 256, 728)
    middle_width: int = 728
    middle_repeats: int = 8
    exit_widths: tuple[int, int] = (728, 1024)
    head_widths: tuple[int, int] = (1536, 2048)
    include_top: bool = True
    global_pool: str | None = "avg"
    drop_rate: float = 0.0
    fc_layers: tuple[int, ...] = ()
    residual: bool = True
    mid_act: str | None = None
    order: str = "depthwise_first"
    conv_mode: str = "separable"
    segments: int | None = None
    act_layer: str = "relu"
    norm_layer: str = "batchnorm"
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01
    min_input_size: int = 71

    def style(self) -> ConvStyle:
        """The convolution style these fields name (every style option is a field here)."""
        return ConvStyle.from_config(self)


class Xception(ClassifierModel):
    """Xception: `forward_features` (N, C, H, W) -> (N, 2048, H/32, W/32); `forward` -> logits.

    `features_only=True` makes `forward` return the five maps at strides 2, 4, 8, 16, 32
    (described by `feature_info`).
    """

    def __init__(self, cfg: XceptionConfig | None = None, features_only: bool = False,
                 **overrides: Any) -> None:
        super().__init__()
        cfg = make_config(XceptionConfig, cfg, overrides)
        self.cfg, self.features_only = cfg, features_only
        style, k = cfg.style(), cfg.kernel_size
        s0, s1 = cfg.stem_widths
        stem = nn.Sequential(OrderedDict([
            *conv_norm_act(style.conv(cfg.in_chans, s0, 3, cfg.stem_stride, cfg.stem_padding),
                           s0, style.norm, style.act, ("conv1", "bn1", "act1")).named_children(),
            *conv_norm_act(style.conv(s0, s1, 3, 1, cfg.stem_padding), s1, style.norm,
                           style.act, ("conv2", "bn2", "act2")).named_children(),
        ]))
        blocks: OrderedDict[str, nn.Module] = OrderedDict(block1=stem)
        ch, n = s1, 2
        for i, width in enumerate(cfg.entry_widths):
            # Block 2 starts without an activation: the stem already ends in one.
            blocks[f"block{n}"] = XceptionBlock(ch, (width, width), 2, i > 0, style,
                                                cfg.residual, k)
            ch, n = width, n + 1
        for _ in range(cfg.middle_repeats):
            blocks[f"block{n}"] = XceptionBlock(ch, (cfg.middle_width,) * 3, 1, True, style,
                                                cfg.residual, k)
            ch, n = cfg.middle_width, n + 1
        blocks[f"block{n}"] = XceptionBlock(ch, tuple(cfg.exit_widths), 2, True, style,
                                            cfg.residual, k)
        ch = cfg.exit_widths[-1]
        h0, h1 = cfg.head_widths
        blocks[f"block{n + 1}"] = nn.Sequential(OrderedDict([
            ("sepconv1", style.sep_conv(ch, h0, k)), ("bn1", style.norm(h0)),
            ("act1", style.act()),
            ("sepconv2", style.sep_conv(h0, h1, k)), ("bn2", style.norm(h1)),
            ("act2", style.act()),
        ]))
        self.blocks = nn.Sequential(blocks)
        self.num_features = h1
        self.feature_info = _feature_info(cfg, n + 1)
        self.head = ClassifierHead(h1, cfg.num_classes, cfg.global_pool, cfg.include_top,
                                   cfg.fc_layers, cfg.drop_rate, style.act)
        init_weights(self)

    def keras_layers(self) -> list[KerasEntry]:
        """Keras's layer order: each block's main path, then its (unnamed) shortcut conv + BN."""
        t = [KerasEntry(f"block1_{n}", f"blocks.block1.{m}") for n, m in
             (("conv1", "conv1"), ("conv1_bn", "bn1"), ("conv2", "conv2"), ("conv2_bn", "bn2"))]
        for name, block in list(self.blocks.named_children())[1:]:
            body = getattr(block, "body", block)
            prefix = f"blocks.{name}.body" if hasattr(block, "body") else f"blocks.{name}"
            n_sep = sum(1 for child in body._modules if child.startswith("sepconv"))
            for i in range(1, n_sep + 1):
                t.append(KerasEntry(f"{name}_sepconv{i}", f"{prefix}.sepconv{i}"))
                t.append(KerasEntry(f"{name}_sepconv{i}_bn", f"{prefix}.bn{i}"))
            if getattr(block, "shortcut", None) is not None:
                t.append(KerasEntry(None, f"blocks.{name}.shortcut.conv", "conv2d"))
                t.append(KerasEntry(None, f"blocks.{name}.shortcut.bn", "batch_normalization"))
        return t + self._head_keras_layers("predictions")


def _feature_info(cfg: XceptionConfig, last: int) -> list[dict]:
    """The five levels: stem, blocks 2 and 3, the last middle block, the exit flow."""
    last_middle = 1 + len(cfg.entry_widths) + cfg.middle_repeats
    r = cfg.stem_stride
    levels = [(cfg.stem_widths[1], r, 1), (cfg.entry_widths[0], 2 * r, 2),
              (cfg.entry_widths[1], 4 * r, 3),
              (cfg.middle_width if cfg.middle_repeats else cfg.entry_widths[-1], 8 * r,
               last_middle),
              (cfg.head_widths[1], 16 * r, last)]
    return [dict(num_chs=c, reduction=red, module=f"blocks.block{b}", index=b - 1)
            for c, red, b in levels]


@register_model(input_size=(299, 299), keras_classifier="predictions",
                expected=dict(params=22_855_952, bn_stats=54_528, top1=0.790))
def xception(**kw: Any) -> Xception:
    """Xception as in the paper and keras.applications (299x299)."""
    return Xception(**kw)


@register_model(input_size=(299, 299))
def xception_standard(**kw: Any) -> Xception:
    """Xception's twin: every separable conv a regular conv."""
    return Xception(**{"conv_mode": "standard", **kw})


XCEPTION_MINI = dict(
    num_classes=10, stem_widths=(16, 32), stem_stride=1, stem_padding="same",
    entry_widths=(32, 64, 128), middle_width=128, middle_repeats=4,
    exit_widths=(128, 192), head_widths=(192, 256), min_input_size=8,
    # Trained from scratch on small data sets: Keras's BN momentum (0.01 here) leaves the
    # running statistics unconverged after a few hundred steps; PyTorch's 0.1 does not.
    bn_momentum=0.1,
)


@register_model(input_size=(32, 32))
def xception_mini(**kw: Any) -> Xception:
    """A small Xception (4 middle blocks, <=256 ch) for 8-64 px images."""
    return Xception(**{**XCEPTION_MINI, **kw})


XCEPTION_1D = dict(
    dims=1, num_classes=2, in_chans=3, kernel_size=9, stem_widths=(32, 64), stem_stride=2,
    stem_padding="same", entry_widths=(64, 128, 256), middle_width=256, middle_repeats=4,
    exit_widths=(256, 384), head_widths=(512, 768), min_input_size=16,
)


@register_model(input_size=(512,))
def xception1d(**kw: Any) -> Xception:
    """Xception's entry / middle / exit flows in 1-D, kernel 9, for long sequences."""
    return Xception(**{**XCEPTION_1D, **kw})
