"""`ConvStyle`: how a network builds its convolutions, norms and activations, in any dims.

`conv_mode='standard'` builds the "standard convolution twin" of a network: every separable
convolution becomes one regular convolution with the same in/out channels, kernel and stride.
The twin is what the papers compare against (MobileNet Table 4; Xception's motivation).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from torch import nn

from ..layers import CONV, POINTWISE, SEPARABLE
from ..layers.padding import Padding
from ..layers.separable import ORDERS
from .norm_act import get_act, get_norm

CONV_MODES = ("separable", "standard")


@dataclass(frozen=True)
class ConvStyle:
    """How a network builds its convolutions, norms and activations: the one builder of convs.

    Every block and model gets its convolutions from a style (`conv`, `pointwise`, `sep_conv`),
    so one set of options switches a whole network. Model configs carry the options they let
    users choose as flat fields of the same names; `from_config` picks them up by name.

    Attributes:
        dims: spatial dims of the maps, 1 (sequences), 2 (images) or 3 (volumes).
        conv_mode: 'separable', or 'standard' for the regular-convolution twin: `sep_conv`
            then builds one regular conv with the same channels, kernel and stride.
        order: 'depthwise_first' (TensorFlow's SeparableConv) or 'pointwise_first' (the
            paper's "extreme Inception" module, 1x1 first).
        mid_act: activation name between the depthwise and pointwise steps (Figure 10 of
            the Xception paper; None: none, the paper's best).
        act_layer: the network's activation name ('relu', 'relu6', 'elu', 'gelu', 'silu').
        norm_layer: the normalisation name ('batchnorm').
        bn_eps: the norm's epsilon (Keras's BatchNormalization default 1e-3).
        bn_momentum: the norm's momentum, PyTorch convention (Keras's 0.99 is 0.01 here).
        segments: groups of the separable conv's spatial step, the Inception spectrum: None
            depthwise (one per channel), 1 a regular conv beside the 1x1, between: Inception.
        groups: groups of the separable conv's 1x1 step: 1 separable, g > 1 SliceNet's
            super-separable conv (g separable convs over channel slices, k*c + c^2/g
            parameters). Like `order`, `mid_act` and `segments`, it has no meaning for the
            'standard' twin, which refuses a value other than the default.
    """

    dims: int = 2
    conv_mode: str = "separable"
    order: str = "depthwise_first"
    mid_act: str | None = None
    act_layer: str = "relu"
    norm_layer: str = "batchnorm"
    bn_eps: float = 1e-3
    bn_momentum: float = 0.01
    segments: int | None = None
    groups: int = 1

    def __post_init__(self) -> None:
        if self.dims not in CONV:
            raise ValueError(f"dims={self.dims!r}: expected 1, 2 or 3")
        if self.conv_mode not in CONV_MODES:
            raise ValueError(f"conv_mode={self.conv_mode!r}: expected one of {CONV_MODES}")
        if self.order not in ORDERS:
            # Checked here too: the 'standard' twin never reaches the separable layer's check.
            raise ValueError(f"order={self.order!r}: expected one of {ORDERS}")
        get_act(self.act_layer), get_act(self.mid_act)  # unknown names fail at build time
        if self.conv_mode == "standard":  # a regular conv has no steps to order, split or group
            moot = [f"{name}={value!r}" for name, value, default in (
                ("order", self.order, "depthwise_first"), ("mid_act", self.mid_act, None),
                ("segments", self.segments, None), ("groups", self.groups, 1))
                if value != default]
            if moot:
                raise ValueError(f"conv_mode='standard' builds regular convolutions, which have "
                                 f"no {', '.join(moot)}: drop it, or use conv_mode='separable'")

    @classmethod
    def from_config(cls, cfg: object, **fixed: Any) -> ConvStyle:
        """The style a model config names: each ConvStyle field the config has, by name.

        fixed: the options the model does not let users choose (MobileNet: dims=2 and
        mid_act=its act_layer); they may not shadow a field of the config, which would be
        silently ignored. Options in neither keep ConvStyle's defaults.
        """
        names = [f.name for f in fields(cls)]
        shadowed = sorted(n for n in fixed if hasattr(cfg, n))
        if shadowed:
            raise ValueError(f"{type(cfg).__name__} has field(s) {', '.join(shadowed)}: "
                             "take them from the config, not from `fixed`")
        return cls(**{n: getattr(cfg, n) for n in names if hasattr(cfg, n)}, **fixed)

    def act(self) -> nn.Module:
        """A new activation layer."""
        return get_act(self.act_layer)()

    @property
    def norm(self) -> Callable[[int], nn.Module]:
        """A factory channels -> normalisation layer."""
        return get_norm(self.norm_layer, self.dims, self.bn_eps, self.bn_momentum)

    def conv(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1,
             padding: Padding = "same", dilation: int = 1) -> nn.Module:
        """A regular conv, in both conv modes (stems): (N, in_ch, *S) -> (N, out_ch, *S')."""
        return CONV[self.dims](in_ch, out_ch, kernel_size, stride, padding, dilation)

    def pointwise(self, in_ch: int, out_ch: int, stride: int = 1) -> nn.Module:
        """A 1x1 conv (bottlenecks, shortcuts, conv heads): (N, in_ch, *S) -> (N, out_ch, *S')."""
        return POINTWISE[self.dims](in_ch, out_ch, stride)

    def sep_conv(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1,
                 padding: Padding = "same", mid_norm: bool = False, dilation: int = 1
                 ) -> nn.Module:
        """A separable conv (or, for the twin, a regular one): (N, in_ch, *S) -> (N, out_ch, *S').

        mid_norm: a norm between the depthwise and pointwise steps (MobileNet's).
        padding: 'same' (TensorFlow's), 'causal' (1-D: only the past), 'valid', explicit.
        """
        if self.conv_mode == "standard":
            return self.conv(in_ch, out_ch, kernel_size, stride, padding, dilation)
        return SEPARABLE[self.dims](in_ch, out_ch, kernel_size, stride, padding, dilation,
                                    order=self.order, mid_norm=self.norm if mid_norm else None,
                                    mid_act=get_act(self.mid_act), segments=self.segments,
                                    groups=self.groups)


def conv_norm_act(conv: nn.Module, channels: int, norm: Callable[[int], nn.Module],
                  act: Callable[[], nn.Module] | None,
                  names: tuple[str, str, str] = ("conv", "bn", "act")) -> nn.Sequential:
    """conv -> norm -> [act] as one Sequential with stable names (for weight-mapping tables)."""
    parts = [(names[0], conv), (names[1], norm(channels))]
    if act is not None:
        parts.append((names[2], act()))
    return nn.Sequential(OrderedDict(parts))
