"""One table of Keras layouts, keyed by module type: how a module's tensors become the arrays of
its Keras layer, and back. Loading and exporting both read it, so the two directions cannot
drift apart, and `keras_layout` is the only place that asks a module for its type.

Layouts (Keras -> PyTorch):

    Conv kernel       (*k, in, out)        -> (out, in, *k)
    Depthwise kernel  (*k, in, dm)         -> (in * dm, 1, *k)   (channel c*dm + j)
    Pointwise kernel  (1, .., in*dm, out)  -> (out, in*dm, 1, ..)
    Dense kernel      (in, out)            -> (out, in)   ((1, 1, in, out): a 1x1-conv classifier)
    BatchNorm         gamma, beta, moving_mean, moving_variance -> weight, bias, running_*
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ..layers import DEPTHWISE, SeparableConv
from .keras_read import WeightFileError

_Conv = nn.modules.conv._ConvNd
_BN = nn.modules.batchnorm._BatchNorm
# (module, array in one layout) -> the array in the other layout.
Convert = Callable[[nn.Module, np.ndarray], np.ndarray]


def _same(m: nn.Module, a: np.ndarray) -> np.ndarray:
    return a


@dataclass(frozen=True)
class Slot:
    """One Keras weight of a layer: its Keras name, the module's tensor behind it (None: the
    module has none, e.g. no bias, and neither has the Keras layer), and both conversions."""

    name: str
    tensor: Callable[[nn.Module], torch.Tensor | None]
    to_keras: Convert = _same
    to_torch: Convert = _same


@dataclass(frozen=True)
class KerasLayout:
    """A row of the table: the modules it covers and their Keras weights, in Keras's order."""

    keras_class: str  # the Keras layer it stands for, for messages
    module: type | tuple[type, ...]
    slots: tuple[Slot, ...]
    when: Callable[[nn.Module], bool] = lambda m: True  # narrows `module` (depthwise convs)
    refuse: Callable[[nn.Module], str | None] = lambda m: None  # why this one has no Keras twin

    def present(self, m: nn.Module) -> list[tuple[Slot, torch.Tensor]]:
        """(slot, tensor) for each of `m`'s Keras weights, in Keras order."""
        return [(s, t) for s in self.slots if (t := s.tensor(m)) is not None]

    def weight_names(self, m: nn.Module) -> list[str]:
        """Keras's names of `m`'s weights ('depthwise_kernel', 'bias', ...), in order."""
        return [s.name for s, _ in self.present(m)]

    def to_keras(self, m: nn.Module) -> list[np.ndarray]:
        """`m`'s tensors as the Keras layer's arrays, in Keras order and layout."""
        return [s.to_keras(m, t.detach().cpu().numpy()) for s, t in self.present(m)]

    def to_torch(self, m: nn.Module, arrays: list[np.ndarray]
                 ) -> list[tuple[torch.Tensor, np.ndarray]]:
        """(tensor of `m`, Keras array in that tensor's layout) for each of `arrays`."""
        return [(t, s.to_torch(m, a)) for (s, t), a in zip(self.present(m), arrays)]

    @torch.no_grad()
    def load(self, m: nn.Module, arrays: list[np.ndarray]) -> None:
        """Copy a Keras layer's arrays (shapes already checked) into `m`, in place."""
        for tensor, a in self.to_torch(m, arrays):
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(a)).to(tensor.dtype))


# --------------------------------------------------------------------- kernel layouts

def _kernel_to_keras(m: nn.Module, w: np.ndarray) -> np.ndarray:
    """(out, in, *k) -> (*k, in, out)."""
    d = w.ndim - 2
    return np.transpose(w, (*range(2, 2 + d), 1, 0))


def _kernel_to_torch(m: nn.Module, k: np.ndarray) -> np.ndarray:
    """(*k, in, out) -> (out, in, *k)."""
    d = k.ndim - 2
    return np.transpose(k, (d + 1, d, *range(d)))


def _depthwise_to_keras(conv: _Conv, w: np.ndarray) -> np.ndarray:
    """(in*dm, 1, *k) -> (*k, in, dm): output channel c*dm + j is input c's j-th filter."""
    d = w.ndim - 2
    k = np.moveaxis(w[:, 0], 0, -1)  # (*k, in*dm)
    return k.reshape(*k.shape[:d], conv.in_channels, conv.out_channels // conv.in_channels)


def _depthwise_to_torch(m: nn.Module, k: np.ndarray) -> np.ndarray:
    """(*k, in, dm) -> (in*dm, 1, *k)."""
    flat = k.reshape(*k.shape[:k.ndim - 2], -1)
    return np.moveaxis(flat, -1, 0)[:, None]


def _is_depthwise(m: _Conv) -> bool:
    return isinstance(m, tuple(DEPTHWISE.values())) or (m.groups == m.in_channels > 1)


def _separable_refusal(m: SeparableConv) -> str | None:
    if m.order != "depthwise_first" or m.segments != m.in_channels:
        return ("only depthwise-first, fully depthwise separable convs have a Keras counterpart "
                "(SeparableConv)")
    return None


# ------------------------------------------------------------------------------ the table

def _weight(m: nn.Module) -> torch.Tensor:
    return m.weight


def _bias(m: nn.Module) -> torch.Tensor | None:
    return m.bias


_DENSE = KerasLayout("Dense", nn.Linear, (
    Slot("kernel", _weight, lambda m, w: w.T, lambda m, k: k.reshape(k.shape[-2:]).T),
    Slot("bias", _bias)))

# Tried in order, the first match wins: a depthwise conv is a conv, so it comes first.
KERAS_LAYOUTS: tuple[KerasLayout, ...] = (
    KerasLayout("SeparableConv", SeparableConv, (
        Slot("depthwise_kernel", lambda m: m.depthwise.weight,
             lambda m, w: _depthwise_to_keras(m.depthwise, w), _depthwise_to_torch),
        Slot("pointwise_kernel", lambda m: m.pointwise.weight, _kernel_to_keras,
             _kernel_to_torch),
        Slot("bias", lambda m: m.pointwise.bias)), refuse=_separable_refusal),
    KerasLayout("DepthwiseConv", _Conv, (
        Slot("depthwise_kernel", _weight, _depthwise_to_keras, _depthwise_to_torch),
        Slot("bias", _bias)), when=_is_depthwise),
    KerasLayout("Conv", _Conv, (
        Slot("kernel", _weight, _kernel_to_keras, _kernel_to_torch), Slot("bias", _bias))),
    KerasLayout("BatchNormalization", _BN, (
        Slot("gamma", _weight), Slot("beta", _bias),
        Slot("moving_mean", lambda m: m.running_mean),
        Slot("moving_variance", lambda m: m.running_var))),
    _DENSE,
)

# Keras MobileNet's classifier (conv_preds) is a 1x1 Conv2D where dsconv has a Linear.
DENSE_AS_CONV = replace(_DENSE, keras_class="Conv2D 1x1 classifier", slots=(
    replace(_DENSE.slots[0], to_keras=lambda m, w: w.T.reshape(1, 1, *w.T.shape)),
    *_DENSE.slots[1:]))


def keras_layout(m: nn.Module, conv_classifier: bool = False) -> KerasLayout:
    """The table's row for `m`: the one type dispatch of the Keras code. `conv_classifier`:
    a Linear stands for a 1x1-conv classifier (`DENSE_AS_CONV`). WeightFileError when no row
    fits or the row refuses this configuration."""
    row = next((r for r in KERAS_LAYOUTS if isinstance(m, r.module) and r.when(m)), None)
    if row is None:
        raise WeightFileError(f"no Keras layout for {type(m).__name__}")
    why = row.refuse(m)
    if why:
        raise WeightFileError(why)
    return DENSE_AS_CONV if conv_classifier and row is _DENSE else row


def module_to_keras(m: nn.Module, conv_classifier: bool = False) -> list[np.ndarray]:
    """A dsconv/torch module's weights as the arrays of the matching Keras layer, in order."""
    return keras_layout(m, conv_classifier).to_keras(m)
