"""dsconv: depthwise separable convolutions and the networks built from them.

The package's front door; the parts stack as utils -> layers -> blocks -> models -> data, cost
-> weights -> deploy -> train -> cli, each importing only the parts before it.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from . import models
from .models import list_models, model_info

__version__ = "0.2.0"


def create_model(name: str, weights: str | Path | None = None, **overrides) -> nn.Module:
    """Build a registered model (`overrides` replace config fields: num_classes=..., alpha=...)
    and, with `weights`, load a dsconv, Keras (.h5 / .weights.h5 / .keras) file strictly."""
    model = models.create_model(name, **overrides)
    if weights is not None:
        from .weights import load_weights

        load_weights(model, weights)
    return model


def load_model(path: str | Path, model: str | None = None, **overrides):
    """(model in eval mode, metadata) from any model file: see `dsconv.weights.load_model`."""
    from .weights import load_model as _load

    return _load(path, model, **overrides)


__all__ = ["create_model", "load_model", "list_models", "model_info", "__version__"]
