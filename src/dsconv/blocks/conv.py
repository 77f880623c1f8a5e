"""`ConvStyle`: how a network builds its convolutions, norms and activations, in any dims.

`conv_mode='standard'` builds the "standard convolution twin" of a network: every separable
convolution becomes one regular convolution with the same in/out channels, kernel and stride.
The twin is what the papers compare against (MobileNet Table 4; Xception's motivation).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..layers import CONV, SEPARABLE
from ..layers.padding import Padding
from .norm_act import get_act, get_norm

CONV_MODES = ("separable", "standard")


@dataclass(frozen=True)
class ConvStyle:
    dims: int = 2                    # 1: sequences, 2: images, 3: volumes
    conv_mode: str = "separable"     # 'standard' builds the regular-convolution twin
    order: str = "depthwise_first"   # or 'pointwise_first' (the "extreme Inception" module)
    mid_act: str | None = None       # activation between depthwise and pointwise (Fig. 10)
    act_layer: str = "relu"          # the network's activation
    norm_layer: str = "batchnorm"
    bn_eps: float = 1e-3             # Keras's BatchNormalization defaults
    bn_momentum: float = 0.01        # PyTorch convention (Keras's 0.99)
    segments: int | None = None      # groups of the spatial step: None depthwise, 1 regular

    def __post_init__(self) -> None:
        if self.conv_mode not in CONV_MODES:
            raise ValueError(f"conv_mode={self.conv_mode!r}: expected one of {CONV_MODES}")
        get_act(self.act_layer), get_act(self.mid_act)  # unknown names fail at build time

    def act(self) -> nn.Module:
        """A new activation layer."""
        return get_act(self.act_layer)()

    @property
    def norm(self) -> Callable[[int], nn.Module]:
        """A factory channels -> normalisation layer."""
        return get_norm(self.norm_layer, self.dims, self.bn_eps, self.bn_momentum)

    def sep_conv(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1,
                 padding: Padding = "same", mid_norm: bool = False) -> nn.Module:
        """A separable conv (or, for the twin, a regular one): (N, in_ch, *S) -> (N, out_ch, *S').

        mid_norm: a norm between the depthwise and pointwise steps (MobileNet's).
        """
        if self.conv_mode == "standard":
            return CONV[self.dims](in_ch, out_ch, kernel_size, stride, padding)
        return SEPARABLE[self.dims](in_ch, out_ch, kernel_size, stride, padding,
                                    order=self.order, mid_norm=self.norm if mid_norm else None,
                                    mid_act=get_act(self.mid_act), segments=self.segments)


def conv_norm_act(conv: nn.Module, channels: int, norm: Callable[[int], nn.Module],
                  act: Callable[[], nn.Module] | None,
                  names: tuple[str, str, str] = ("conv", "bn", "act")) -> nn.Sequential:
    """conv -> norm -> [act] as one Sequential with stable names (for weight-mapping tables)."""
    parts = [(names[0], conv), (names[1], norm(channels))]
    if act is not None:
        parts.append((names[2], act()))
    return nn.Sequential(OrderedDict(parts))
