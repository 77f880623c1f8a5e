"""Building blocks shared by the models: norm/act factories and the separable-or-standard switch.

`conv_mode='standard'` builds the "standard convolution twin" of a network: every separable
convolution becomes one regular convolution with the same in/out channels, kernel and stride.
The twin is what the papers compare against (MobileNet Table 4; Xception's motivation).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from functools import partial

from torch import nn

from ..layers import CONV, SEPARABLE
from ..layers.padding import Padding

CONV_MODES = ("separable", "standard")

# Keras's BatchNormalization defaults: epsilon 1e-3, momentum 0.99 (PyTorch's momentum is
# 1 - Keras's). The published Keras weights were trained with these; eps 1e-5 is a common
# porting mistake that shifts every activation slightly.
KerasBatchNorm2d = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)
KerasBatchNorm1d = partial(nn.BatchNorm1d, eps=1e-3, momentum=0.01)

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": partial(nn.ReLU, inplace=True),
    "relu6": partial(nn.ReLU6, inplace=True),
    "elu": partial(nn.ELU, inplace=True),
    "gelu": nn.GELU,
    "silu": partial(nn.SiLU, inplace=True),
}


def get_act(act: str | Callable[[], nn.Module] | None) -> Callable[[], nn.Module] | None:
    """Resolve an activation given by name ('relu', 'elu', ...), factory, or None."""
    if act is None or callable(act):
        return act
    if act not in ACTIVATIONS:
        raise ValueError(f"activation {act!r}: expected one of {sorted(ACTIVATIONS)} or a factory")
    return ACTIVATIONS[act]


def spatial_conv(
    conv_mode: str,
    in_ch: int,
    out_ch: int,
    kernel_size: int = 3,
    stride: int = 1,
    padding: Padding = "same",
    dims: int = 2,
    order: str = "depthwise_first",
    mid_act: str | Callable[[], nn.Module] | None = None,
    mid_norm: Callable[[int], nn.Module] | None = None,
) -> nn.Module:
    """A separable convolution, or its standard twin: (N, in_ch, *S) -> (N, out_ch, *S/stride)."""
    if conv_mode == "separable":
        return SEPARABLE[dims](in_ch, out_ch, kernel_size, stride, padding, order=order,
                               mid_norm=mid_norm, mid_act=get_act(mid_act))
    if conv_mode == "standard":
        return CONV[dims](in_ch, out_ch, kernel_size, stride, padding)
    raise ValueError(f"conv_mode={conv_mode!r}: expected one of {CONV_MODES}")


def conv_bn_act(
    conv: nn.Module,
    channels: int,
    norm_layer: Callable[[int], nn.Module],
    act_layer: Callable[[], nn.Module] | None,
    names: tuple[str, str, str] = ("conv", "bn", "act"),
) -> nn.Sequential:
    """conv -> norm -> act as one Sequential with stable names (for weight-mapping tables)."""
    parts = [(names[0], conv), (names[1], norm_layer(channels))]
    if act_layer is not None:
        parts.append((names[2], act_layer()))
    return nn.Sequential(OrderedDict(parts))
