"""LITE (Ismail-Fawaz et al. 2023, "LITE: Light Inception with boosTing tEchniques for Time
Series Classification", DSAA), as the authors' code (MSD-IRIMAS/LITE, classifiers/lite.py)
builds it:

    multiplexing: regular convs 40/20/10 (32 filters each, no bias)  ┐
                  17 fixed hand-crafted filters -> ReLU  ─────────────┴-> concat (113) -> BN, ReLU
    2 depthwise separable convs: 32 filters, kernel 20 dilation 2, kernel 10 dilation 4,
                  each BN, ReLU
    head: global average pool, linear classifier (softmax in the loss)

The three boosting techniques of the title are the multiplexing convs, the custom filters and
the dilation; each can be switched off (the paper's ablation).

Padding: Keras's 'same' with the authors' even kernels pads (k-1)//2 zeros before and the
rest after (TensorFlow's rule; Keras 3 on torch does the same). dsconv's convs pad by that rule
(`layers.padding`), so Keras weights give the same outputs (tested against aeon's LITENetwork);
an odd-kernel port (tsai's 39/19/9 for InceptionTime) would not. The dilated separable convs
pad (k-1)*d, even, so symmetrically.

Parameters: the paper's 9,814 trainable parameters are the network without its classifier
for a univariate series: `lite(in_chans=1, num_classes=0)` has exactly that (tested). The
classifier adds 33 per class (32 weights and a bias), e.g. 9,880 for two classes, and Keras
adds 792 non-trainable (the 438 fixed filter taps and 354 BN statistics), which the cost
profile counts the same way. `lite_standard` is the regular-convolution twin (every separable
conv a regular one): 85,154 without the classifier.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..blocks import ClassifierHead, ConvStyle, conv_norm_act
from ..blocks.inception import MultiplexModule
from ..layers import FilterBank1d, lite_filters
from ..layers.handcrafted import LITE_FILTER_LENGTHS
from .base import ClassifierModel, init_weights, make_config
from .ensemble import register_ensemble
from .registry import register_model


@dataclass
class LiteConfig:
    """LITE's options; a model file stores them flat (`dataclasses.asdict`). Defaults: the paper.

    Attributes:
        num_classes: classifier outputs (0: pooled features).
        in_chans: sensor channels (1: the paper's univariate UCR series). With more, each fixed
            filter sums its response over the channels (aeon's LITE on multivariate input).
        dims: 1 (sequences).
        n_filters: filters of each multiplexing conv and of each separable conv (32).
        kernel_size: the largest kernel (40; the authors' code takes 41 and subtracts 1, aeon's
            takes 40). The multiplexing convs use kernel_size // 1, 2, 4 (40/20/10), the
            separable convs kernel_size // 2, 4, ... (20/10).
        multiplexing: the three parallel convs; False: one conv of 3 * n_filters, kernel_size.
        custom_filters: the fixed hand-crafted filters beside the multiplexing convs.
        custom_filter_lengths: their lengths k: increasing and decreasing filters of each k,
            peak filters (1.5k taps) of each but the first (17 filters for 2..64).
        dilation: the separable convs' dilation 2, 4, ... (2^(i+1)); False: 1.
        depth: separable conv layers (2).
        conv_mode, segments, mid_act, order, act_layer, norm_layer, bn_eps, bn_momentum: the
            convolution style, as `ConvStyle` documents them; they reach the separable convs
            ('standard': the twin). BN defaults are Keras's (eps 1e-3, momentum 0.99 = 0.01
            here), as the authors trained with.
        drop_rate: dropout before the classifier (0: the paper has none).
        include_top, global_pool: the head (global average pool, linear classifier).
        min_input_size: 1, any length ('same' convolutions).
    """

    num_classes: int = 2
    in_chans: int = 1
    dims: int = 1
    n_filters: int = 32
    kernel_size: int = 40
    multiplexing: bool = True
    custom_filters: bool = True
    custom_filter_lengths: tuple[int, ...] = LITE_FILTER_LENGTHS
    dilation: bool = True
    depth: int = 2
    conv_mode: str = "separable"
    segments: int | None = None
    mid_act: str | None = None
    order: str = "depthwise_first"
    act_layer: str = "relu"
    norm_layer: str = "batchnorm"
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01
    drop_rate: float = 0.0
    include_top: bool = True
    global_pool: str | None = "avg"
    min_input_size: int = 1

    def style(self) -> ConvStyle:
        """The convolution style these fields name (every style option is a field here)."""
        return ConvStyle.from_config(self)

    def multiplex_kernels(self) -> tuple[int, ...]:
        """The multiplexing convs' kernels: (40, 20, 10), or (40,) without multiplexing."""
        return tuple(self.kernel_size // 2**i for i in range(3 if self.multiplexing else 1))

    def separable_layers(self) -> list[tuple[int, int]]:
        """(kernel, dilation) of each separable conv: [(20, 2), (10, 4)]."""
        return [(self.kernel_size // 2 // 2**i, 2 ** (i + 1) if self.dilation else 1)
                for i in range(self.depth)]

    def check(self) -> None:
        """A ValueError naming the option when the kernels or the depth leave nothing to run."""
        if self.depth < 1:
            raise ValueError(f"depth={self.depth}: LITE needs at least one separable conv")
        kernels = self.multiplex_kernels() + tuple(k for k, _ in self.separable_layers())
        if min(kernels) < 1:
            raise ValueError(f"kernel_size={self.kernel_size} with depth={self.depth}: the "
                             f"kernels would be {kernels}; raise kernel_size to at least "
                             f"{2 ** max(self.depth, 2 if self.multiplexing else 0)}")


class Lite(ClassifierModel):
    """LITE: (N, in_chans, L) -> (N, num_classes)."""

    def __init__(self, cfg: LiteConfig | None = None, features_only: bool = False,
                 **overrides: Any) -> None:
        super().__init__()
        cfg = make_config(LiteConfig, cfg, overrides)
        cfg.check()
        self.cfg, self.features_only = cfg, features_only
        style = cfg.style()
        width = cfg.n_filters * (1 if cfg.multiplexing else 3)
        fixed = (FilterBank1d(cfg.in_chans, lite_filters(cfg.custom_filter_lengths))
                 if cfg.custom_filters else None)
        stem = MultiplexModule(cfg.in_chans, width, cfg.multiplex_kernels(), style, fixed)
        blocks: OrderedDict[str, nn.Module] = OrderedDict(multiplex=stem)
        ch = stem.out_channels
        for i, (k, d) in enumerate(cfg.separable_layers()):
            blocks[f"dwsc{i + 1}"] = conv_norm_act(
                style.sep_conv(ch, cfg.n_filters, k, dilation=d), cfg.n_filters, style.norm,
                style.act)
            ch = cfg.n_filters
        self.blocks = nn.Sequential(blocks)
        self.num_features = ch
        self.feature_info = [
            dict(num_chs=stem.out_channels if i == 0 else cfg.n_filters, reduction=1,
                 module=f"blocks.{name}", index=i) for i, name in enumerate(blocks)]
        self.head = ClassifierHead(ch, cfg.num_classes, cfg.global_pool, cfg.include_top,
                                   (), cfg.drop_rate, style.act)
        init_weights(self)


@register_model(input_size=(128,),
                expected=dict(params=9_814, count_args=dict(in_chans=1, num_classes=0)))
def lite(**kw: Any) -> Lite:
    """LITE: fixed filters, multiplexing convs, dilated separable convs (authors-exact)."""
    return Lite(**kw)


@register_model(input_size=(128,),
                expected=dict(params=85_154, count_args=dict(in_chans=1, num_classes=0)))
def lite_standard(**kw: Any) -> Lite:
    """LITE's twin: every separable conv a regular conv."""
    return Lite(**{"conv_mode": "standard", **kw})


# LITETime (the paper's figures): five LITE networks, their probabilities averaged;
# `dsconv train --model litetime` trains the five one after another (seeds seed..seed+4).
register_ensemble("litetime", "lite", 5,
                  "LITETime: an ensemble of five LITE networks (probabilities averaged)")
