"""The interface every image classifier here shares (timm's): features, head, intermediates."""

from __future__ import annotations

import torch
from torch import nn

from .head import ClassifierHead, check_image_input


class ClassifierModel(nn.Module):
    """Subclasses build `self.blocks` (a named Sequential), `self.head`, `self.feature_info`.

    `forward` returns logits (N, num_classes); with `features_only=True`, the list of maps that
    `feature_info` describes (channels `num_chs`, stride `reduction`, `module` path).
    """

    blocks: nn.Sequential
    head: ClassifierHead
    feature_info: list[dict]
    features_only: bool
    num_features: int

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError naming the problem if `x` is not a valid image batch."""
        check_image_input(x, self.cfg.in_chans, self.cfg.min_input_size, type(self).__name__)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, H, W) -> (N, num_features, ~H/32, ~W/32)."""
        self.check_input(x)
        return self.blocks(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(N, num_features, H', W') -> (N, num_classes); pooled (N, C) features if pre_logits."""
        return self.head(x, pre_logits=pre_logits)

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(N, in_chans, H, W) -> the feature maps listed in `feature_info`, shallow first."""
        self.check_input(x)
        wanted = {info["module"].split(".")[1] for info in self.feature_info}
        out = []
        for name, block in self.blocks.named_children():
            x = block(x)
            if name in wanted:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.features_only:
            return self.forward_intermediates(x)
        return self.forward_head(self.forward_features(x))
