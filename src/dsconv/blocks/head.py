"""What every classifier shares, in any number of spatial dims: input checks and the head."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

_AXES = {1: "L", 2: "H, W", 3: "D, H, W"}


def check_input(x: torch.Tensor, dims: int, in_chans: int, min_size: int, model: str) -> None:
    """Raise a ValueError naming the problem unless x is (N, in_chans, *spatial >= min_size)."""
    what = "sequences" if dims == 1 else "images" if dims == 2 else "volumes"
    if x.dim() != dims + 2:
        hint = " add a batch dimension with x.unsqueeze(0) for one sample;" if \
            x.dim() == dims + 1 else ""
        raise ValueError(
            f"{model} expects a batch of {what} shaped (N, {in_chans}, {_AXES[dims]}), got "
            f"shape {tuple(x.shape)};{hint} see the model's cfg.in_chans and cfg.dims"
        )
    if x.shape[1] != in_chans:
        hint = ""
        if x.shape[-1] == in_chans:
            hint = " (channels-last input? move the channel axis to position 1)"
        raise ValueError(
            f"{model} expects {in_chans} input channels, got shape {tuple(x.shape)}{hint}"
        )
    spatial = list(x.shape[2:])  # no int(): under torch.export the sizes stay symbolic
    if any(s < min_size for s in spatial):
        need = "x".join([str(min_size)] * dims)
        raise ValueError(
            f"{model} needs inputs of at least {need}, got {'x'.join(map(str, spatial))}: "
            "resize or pad the input"
        )


class ClassifierHead(nn.Module):
    """Global pool -> [FC layers] -> dropout -> linear classifier, over any spatial dims.

    (N, C, *spatial) -> (N, num_classes); with include_top=False, the pooled (N, C) or, with
    global_pool=None, the feature maps unchanged (Keras's `include_top` / `pooling`).
    num_classes=0 leaves the classifier out: pooled (N, C) features (timm's convention).
    """

    def __init__(self, in_features: int, num_classes: int, global_pool: str | None,
                 include_top: bool, fc_layers: tuple[int, ...] = (), drop_rate: float = 0.0,
                 act_layer: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        if global_pool not in ("avg", "max", None):
            raise ValueError(f"global_pool={global_pool!r}: expected 'avg', 'max' or None")
        if include_top and global_pool is None:
            raise ValueError("include_top=True needs global_pool='avg' or 'max'")
        if num_classes < 0:
            raise ValueError(f"num_classes={num_classes}: must be >= 0 (0: pooled features)")
        self.global_pool = global_pool
        self.include_top = include_top
        layers: list[nn.Module] = []
        ch = in_features
        for width in fc_layers if include_top else ():
            layers += [nn.Linear(ch, width), act_layer()]
            ch = width
        self.fc_layers = nn.Sequential(*layers)
        self.drop = nn.Dropout(drop_rate)
        self.num_features = ch
        self.fc = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        """A fresh classifier layer for `num_classes` (Identity for 0 or without a top)."""
        if not self.include_top or num_classes == 0:
            return nn.Identity()
        return nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(N, C, *spatial) -> (N, num_classes), or pooled (N, C') features if pre_logits."""
        axes = tuple(range(2, x.dim()))
        if self.global_pool == "avg":
            x = x.mean(dim=axes)
        elif self.global_pool == "max":
            x = x.amax(dim=axes)
        if not self.include_top:
            return x
        x = self.drop(self.fc_layers(x))
        return x if pre_logits else self.fc(x)
