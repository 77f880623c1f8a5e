"""Activations and normalisations by name, so a model's config stays plain JSON.

Keras's BatchNormalization defaults are epsilon 1e-3, momentum 0.99 (PyTorch's momentum is
1 - Keras's, so 0.01). The published Keras weights were trained with these; eps 1e-5 is a
common porting mistake that shifts every activation slightly.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": partial(nn.ReLU, inplace=True),
    "relu6": partial(nn.ReLU6, inplace=True),
    "elu": partial(nn.ELU, inplace=True),
    "gelu": nn.GELU,
    "silu": partial(nn.SiLU, inplace=True),
}

NORMS: dict[str, dict[int, type[nn.Module]]] = {
    "batchnorm": {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d},
}


def get_act(act: str | Callable[[], nn.Module] | None) -> Callable[[], nn.Module] | None:
    """An activation factory from a name ('relu', 'elu', ...), a factory, or None."""
    if act is None or callable(act):
        return act
    if act not in ACTIVATIONS:
        raise ValueError(f"activation {act!r}: expected one of {sorted(ACTIVATIONS)} or None")
    return ACTIVATIONS[act]


def get_norm(norm: str, dims: int, eps: float = 1e-3, momentum: float = 0.01
             ) -> Callable[[int], nn.Module]:
    """A factory channels -> normalisation layer for `dims`-D maps (momentum: PyTorch's)."""
    if norm not in NORMS:
        raise ValueError(f"norm_layer={norm!r}: expected one of {sorted(NORMS)}")
    return partial(NORMS[norm][dims], eps=eps, momentum=momentum)
