"""Helpers the command modules share: building a model from a name or a file, input sizes."""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

from ..models import create_model, model_info
from ..weights import ModelMeta, load_model
from .flags import model_overrides


def model_from_args(args: argparse.Namespace, source: str | None, weights: str | None = None
                    ) -> tuple[nn.Module, str, ModelMeta | None]:
    """(model in eval mode, its name, meta) from a registered name or a weight file.

    `source` is a registered name or a path; `weights` loads a file into the named model. A
    file's name is what it holds: 'xception', or 'ensemble of 5 xceptiontime'.
    """
    overrides = model_overrides(args)
    if weights is None and source is not None and Path(source).is_file():
        weights, source = source, None
    if weights is not None:
        model, meta = load_model(weights, source, **overrides)
        return model, meta.title, meta
    model = create_model(source, **overrides).eval()
    return model, source, None


def parse_input(text: str) -> list[int]:
    """'224' -> [224], '160x128' -> [160, 128], '6x100' -> [6, 100]."""
    try:
        return [int(v) for v in text.lower().split("x")]
    except ValueError as err:
        raise ValueError(f"--input {text!r}: expected e.g. 224, 160x128 or 6x100") from err


def input_size(model: nn.Module, name: str, meta: ModelMeta | None, text: str | None
               ) -> tuple[int, ...]:
    """Spatial input size: --input ('224', '160x128', or channels x length '6x100' for 1-D),
    else the model file's, else the registered default."""
    dims = getattr(model.cfg, "dims", 2)
    if text:
        values = parse_input(text)
        if len(values) == dims + 1:
            if values[0] != model.cfg.in_chans:
                raise ValueError(f"--input {text}: the model takes {model.cfg.in_chans} "
                                 "channels; pass --in-chans to build it for another count")
            values = values[1:]
        return tuple(values) if len(values) == dims else (values[0],) * dims
    if meta is not None and meta.input_size:
        return meta.input_size
    return model_info(name).input_size
