"""The model registry: each model file registers its variants with a typed default config.

    @register_model(input_size=(299, 299), expected=dict(params=22_855_952))
    def xception(**kw) -> Xception:
        \"\"\"Xception as in the paper and keras.applications.\"\"\"
        return Xception(**kw)

`create_model(name, **overrides)` builds one; `model_info(name)` tells what it expects (input
size, preprocessing, classifier, the figures the tests check). Loading weights is not done
here: `dsconv.weights.load_model` builds, then loads.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    """A registered model: how to build it and what its design expects.

    Fields: name (the registered name), builder (`**overrides -> model`), description (the
    builder's docstring's first line), input_size (the default spatial input: (H, W) for
    images, (L,) for series), normalize (the input scaling images get: 'tf' or 'imagenet';
    series are standardised from their data), keras_classifier (Keras's classifier layer name,
    when Keras ships the model), expected (figures of the default config the tests check,
    e.g. params), tokens (True: a sequence-to-sequence model over token ids, whose
    input_size is (max tokens,)), ensemble ((member, n): the model is an `Ensemble` of n
    networks of the registered model `member`; see `models.ensemble.register_ensemble`).
    """

    name: str
    builder: Callable[..., nn.Module]
    description: str
    input_size: tuple[int, ...]      # default spatial input: (H, W) for images, (L,) for series
    normalize: str = "tf"            # image input scaling the design expects: 'tf' | 'imagenet'
    keras_classifier: str | None = None  # Keras's classifier layer name, if Keras ships it
    expected: dict = field(default_factory=dict)  # figures of the default config (tests check)
    tokens: bool = False             # takes token ids (text: a translation model), not values
    ensemble: tuple[str, int] | None = None  # (member, n): n member networks, averaged

    @property
    def dims(self) -> int:
        return len(self.input_size)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(input_size: tuple[int, ...], normalize: str = "tf",
                   keras_classifier: str | None = None, expected: dict | None = None,
                   tokens: bool = False
                   ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register `fn` under its own name; its docstring's first line describes it."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        doc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
        add_model(ModelInfo(fn.__name__, fn, doc, tuple(input_size), normalize,
                            keras_classifier, dict(expected or {}), tokens))
        return fn

    return wrap


def add_model(info: ModelInfo) -> None:
    """Register `info` under info.name (what `register_model` and `register_ensemble` do)."""
    _REGISTRY[info.name] = info


def list_models(filter: str | list[str] = "", ensembles: bool = True) -> list[str]:
    """Names accepted by `create_model`, sorted; with `filter`, those matching the shell-style
    pattern (or any of the patterns), e.g. 'xception*' (timm's list_models(filter));
    ensembles=False leaves out the registered ensembles (litetime): the single networks."""
    patterns = [filter] if isinstance(filter, str) else list(filter)
    names = [n for n in sorted(_REGISTRY) if ensembles or not _REGISTRY[n].ensemble]
    if not any(patterns):
        return names
    return [n for n in names if any(fnmatch.fnmatchcase(n, p.lower()) for p in patterns if p)]


def model_info(name: str) -> ModelInfo:
    """The registry entry for `name`; unknown names raise a ValueError listing the known ones."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}"
        )
    return _REGISTRY[name]


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model; `overrides` replace fields of its config (num_classes=...,
    in_chans=..., alpha=...), plus `features_only=True` for the feature maps."""
    return model_info(name).builder(**overrides)
