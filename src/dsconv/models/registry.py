"""Model registry: `create_model(name, **overrides)` and `list_models()`.

Each entry records the figures it must reproduce (`metadata`), which the test suite checks.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from torch import nn

from .mobilenet import MobileNetV1
from .xception import Xception


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    defaults: dict = field(default_factory=dict)
    description: str = ""
    # Expected figures for the default config: trainable params, input size, source.
    metadata: dict = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, builder: Callable[..., nn.Module], description: str,
                   metadata: dict | None = None, **defaults) -> None:
    """Add `name` to the registry: create_model(name, **kw) calls builder(**defaults, **kw)."""
    _REGISTRY[name] = ModelEntry(name, builder, defaults, description, metadata or {})


def list_models() -> list[str]:
    """Names accepted by `create_model`, sorted."""
    return sorted(_REGISTRY)


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry for `name`; unknown names raise a ValueError listing the known ones."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}"
        )
    return _REGISTRY[name]


def create_model(name: str, weights: str | Path | None = None, **overrides) -> nn.Module:
    """Build a registered model; `overrides` replace fields of its config (num_classes=...).

    `weights`: a .safetensors file written by dsconv, or a Keras weight file (.h5 / .keras /
    .weights.h5), loaded strictly.
    """
    entry = get_model_entry(name)
    model = entry.builder(**{**entry.defaults, **overrides})
    if weights is not None:
        from ..io import load_weights

        load_weights(model, weights)
    return model


XCEPTION_MINI = dict(
    stem_widths=(16, 32), stem_stride=1, stem_padding="same",
    entry_widths=(32, 64, 128), middle_width=128, middle_repeats=4,
    exit_widths=(128, 192), head_widths=(192, 256), min_input_size=8,
    # Trained from scratch on small data sets: Keras's BN momentum (0.01 here) leaves the
    # running statistics unconverged after a few hundred steps; PyTorch's 0.1 does not.
    norm_layer=partial(nn.BatchNorm2d, eps=1e-3, momentum=0.1),
)

register_model(
    "xception", Xception, "Xception as in the paper and keras.applications (299x299)",
    {"params": 22_855_952, "bn_stats": 54_528, "input_size": 299, "top1": 0.790},
)
register_model(
    "xception_standard", Xception, "Xception's twin: every separable conv a regular conv",
    {"input_size": 299}, conv_mode="standard",
)
register_model(
    "xception_mini", Xception, "A small Xception (4 middle blocks, <=256 ch) for 8-64 px images",
    {"input_size": 32}, num_classes=10, **XCEPTION_MINI,
)
register_model(
    "mobilenet_v1", MobileNetV1, "MobileNet v1 1.0 (Keras-exact: ReLU6, Keras padding)",
    {"params": 4_231_976, "bn_stats": 21_888, "input_size": 224, "macs": 569e6, "top1": 0.706},
)
register_model(
    "mobilenet_v1_standard", MobileNetV1, "MobileNet v1's full-convolution twin (Table 4)",
    {"input_size": 224, "macs": 4866e6, "params": 29.3e6}, conv_mode="standard",
)
