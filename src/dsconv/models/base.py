"""What every classifier here shares (timm's interface), for any number of spatial dims.

A model builds `self.blocks` (a named Sequential), `self.head` (a ClassifierHead) and
`self.feature_info` (one dict per feature level: num_chs, reduction, module, index into
`blocks`). `forward` returns logits (N, num_classes); with `features_only=True`, the maps that
`feature_info` describes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from ..blocks import ClassifierHead, check_input

C = TypeVar("C")


@dataclass(frozen=True)
class KerasEntry:
    """One row of a model's Keras weight table."""

    keras_name: str | None   # None: an unnamed Keras layer, matched by order and shape
    path: str                # dsconv module path
    auto_prefix: str = ""    # for unnamed layers: 'conv2d' or 'batch_normalization'


def make_config(cls: type[C], cfg: C | None, overrides: dict[str, Any]) -> C:
    """cls(**cfg fields, **overrides), with a ValueError naming unknown options.

    JSON gives lists where the config has tuples; they are turned back into tuples, so a
    config read from a model file equals the one that was written.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)} for {cls.__name__}; "
                         f"known: {', '.join(fields)}")
    merged = {**(dataclasses.asdict(cfg) if cfg is not None else {}), **overrides}
    for k, v in merged.items():
        if isinstance(v, list) and isinstance(fields[k].default, tuple):
            merged[k] = tuple(v)
    return cls(**merged)


def init_weights(model: nn.Module) -> None:
    """He-normal convs (fan-out), BN at identity, small-uniform linear: trains from scratch well.

    Fixed filters (a conv whose weight is a buffer, `FixedConv1d`) keep their values."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd) and isinstance(m.weight, nn.Parameter):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ClassifierModel(nn.Module):
    """Base of every model: features, head, intermediates, classifier reset."""

    cfg: Any                 # the model's config dataclass (in_chans, dims, min_input_size, ...)
    blocks: nn.Sequential
    head: ClassifierHead
    feature_info: list[dict]
    features_only: bool
    num_features: int

    @property
    def dims(self) -> int:
        """Spatial dims of the input: 1 (sequences), 2 (images), 3 (volumes)."""
        return getattr(self.cfg, "dims", 2)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError naming the problem if `x` is not a valid input batch."""
        check_input(x, self.dims, self.cfg.in_chans, self.cfg.min_input_size,
                    type(self).__name__)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, *S) -> (N, num_features, *S / 32) (the last feature map)."""
        self.check_input(x)
        return self.blocks(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(N, num_features, *S') -> (N, num_classes); pooled (N, C) features if pre_logits."""
        return self.head(x, pre_logits=pre_logits)

    def forward_intermediates(self, x: torch.Tensor, indices: int | list[int] | None = None,
                              stop_early: bool = False, intermediates_only: bool = False):
        """The feature maps `feature_info` lists, shallow first (timm's interface).

        indices: None = every level, an int n = the last n, a list = those levels.
        Returns the list of maps if intermediates_only (or stop_early), else
        (final features (N, num_features, ...), list of maps).
        """
        self.check_input(x)
        n = len(self.feature_info)
        levels = range(n) if indices is None else (
            range(n - indices, n) if isinstance(indices, int) else indices)
        want = {self.feature_info[i]["index"]: i for i in levels}
        last = max(want) if want else -1
        out = []
        for i, block in enumerate(self.blocks):
            if stop_early and i > last:
                break
            x = block(x)
            if i in want:
                out.append(x)
        return out if (intermediates_only or stop_early) else (x, out)

    @property
    def num_classes(self) -> int:
        """Outputs of the classifier (timm's attribute); 0 when there is none: pooled
        features (num_classes=0), include_top=False, or features_only."""
        if self.features_only or isinstance(self.get_classifier(), nn.Identity):
            return 0
        return self.cfg.num_classes

    def get_classifier(self) -> nn.Module:
        """The final classifier layer (Identity when there is none)."""
        return self.head.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A freshly initialised classifier for `num_classes` (0: pooled features)."""
        self.head.fc = self.head.make_classifier(num_classes)
        self.cfg = dataclasses.replace(self.cfg, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """(N, in_chans, *S) -> logits (N, num_classes), or the feature maps if features_only."""
        if self.features_only:
            return self.forward_intermediates(x, intermediates_only=True)
        return self.forward_head(self.forward_features(x))

    def keras_layers(self) -> list[KerasEntry]:
        """The (Keras layer name, module path) table, in Keras's layer order."""
        raise ValueError(f"{type(self).__name__} has no Keras counterpart: Keras weights map "
                         "onto Xception and MobileNet v1 models")

    def _head_keras_layers(self, classifier: str) -> list[KerasEntry]:
        if not self.head.include_top or isinstance(self.head.fc, nn.Identity):
            return []
        fcs = [i for i, m in enumerate(self.head.fc_layers) if isinstance(m, nn.Linear)]
        return [KerasEntry(f"fc{j + 1}", f"head.fc_layers.{i}") for j, i in enumerate(fcs)] + [
            KerasEntry(classifier, "head.fc")]
