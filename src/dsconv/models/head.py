"""What every classifier model here shares: input checks, the pooled head, weight init."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def check_image_input(x: torch.Tensor, in_chans: int, min_size: int, model: str) -> None:
    """Raise a ValueError naming the problem when `x` is not (N, in_chans, H>=min, W>=min)."""
    if x.dim() != 4:
        raise ValueError(
            f"{model} expects a batch of images shaped (N, {in_chans}, H, W), got shape "
            f"{tuple(x.shape)}; add a batch dimension with x.unsqueeze(0) for one image"
        )
    if x.shape[1] != in_chans:
        hint = ""
        if x.shape[-1] == in_chans:
            hint = " (channels-last input? use x.permute(0, 3, 1, 2))"
        raise ValueError(
            f"{model} expects {in_chans} input channels, got shape {tuple(x.shape)}{hint}"
        )
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if h < min_size or w < min_size:
        raise ValueError(
            f"{model} needs inputs of at least {min_size}x{min_size} pixels, got {h}x{w}: "
            "resize or pad the images"
        )


class ClassifierHead(nn.Module):
    """Global pool -> [FC layers] -> dropout -> linear classifier.

    (N, C, H, W) -> (N, num_classes); with include_top=False, the pooled (N, C) or, with
    global_pool=None, the feature maps unchanged (Keras's `include_top` / `pooling`).
    """

    def __init__(self, in_features: int, num_classes: int, global_pool: str | None,
                 include_top: bool, fc_layers: tuple[int, ...] = (), drop_rate: float = 0.0,
                 act_layer: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        if include_top and global_pool is None:
            raise ValueError("include_top=True needs global_pool='avg' or 'max'")
        self.global_pool = global_pool
        self.include_top = include_top
        layers: list[nn.Module] = []
        ch = in_features
        for width in fc_layers if include_top else ():
            layers += [nn.Linear(ch, width), act_layer()]
            ch = width
        self.fc_layers = nn.Sequential(*layers)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes) if include_top else nn.Identity()

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(-2, -1))
        elif self.global_pool == "max":
            x = x.amax(dim=(-2, -1))
        if not self.include_top:
            return x
        x = self.drop(self.fc_layers(x))
        return x if pre_logits else self.fc(x)


def init_weights(model: nn.Module) -> None:
    """He-normal convs (fan-out), BN at identity, small-uniform linear: trains from scratch well."""
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
