"""Tensors in and out of a built model: safetensors files and checked state-dict loading."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..utils import atomic_path


def save_weights(model: nn.Module, path: str | Path,
                 metadata: dict[str, str] | None = None) -> Path:
    """Write the state dict as safetensors, atomically (temporary file, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    tied = tied_aliases(model)  # a tied tensor is stored once, under its first name
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()
             if k not in tied}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    return path


def tied_aliases(model: nn.Module) -> dict[str, str]:
    """{alias: first name} of the state-dict entries that are the same tensor as an earlier
    one (tied weights: a translator's embedding is its output layer too)."""
    first: dict[int, str] = {}
    aliases = {}
    for k, v in model.state_dict(keep_vars=True).items():
        if id(v) in first:
            aliases[k] = first[id(v)]
        else:
            first[id(v)] = k
    return aliases


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a corrupt or foreign file raises a ValueError saying so."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"{path}: not a readable safetensors or Keras weight file ({err})"
        ) from err


def load_state_checked(model: nn.Module, state: dict[str, torch.Tensor], source: str,
                       strict: bool = True):
    """load_state_dict with an error that names mismatched shapes, missing and extra keys.
    A tied tensor stored once (see `save_weights`) loads under all its names."""
    own = model.state_dict()
    state = {**state, **{a: state[k] for a, k in tied_aliases(model).items()
                         if a not in state and k in state}}
    bad = [f"{k}: model {tuple(own[k].shape)} vs file {tuple(v.shape)}"
           for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if bad or (strict and (missing or extra)):
        parts = []
        if bad:
            parts.append("shape mismatches (another model or number of classes?): "
                         + "; ".join(bad[:5]))
        if strict and missing:
            parts.append(f"{len(missing)} missing tensors, e.g. {missing[:3]}")
        if strict and extra:
            parts.append(f"{len(extra)} unexpected tensors, e.g. {extra[:3]}")
        raise ValueError(f"{source} does not fit {type(model).__name__}: " + " | ".join(parts))
    return model.load_state_dict(state, strict=strict)
