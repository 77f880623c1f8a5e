"""Polyak averaging of the weights, as TensorFlow's ExponentialMovingAverage with num_updates.

The decay ramps with the update count n: min(decay, (1 + n) / (10 + n)). Without the ramp a
decay of 0.9999 averages in the random initial weights for ~10,000 steps, so a short run with
the paper's recipe evaluated a model near chance (0.096) while training accuracy was 0.96.
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    """EMA of the floating-point parameters; buffers (BN statistics) are copied as they are."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.state = {k: v.detach().clone().float() for k, v in model.state_dict().items()
                      if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        params = dict(model.named_parameters())
        for k, v in model.state_dict().items():
            if k not in self.state:
                continue
            if k in params:
                self.state[k].lerp_(v.float(), 1 - d)
            else:
                self.state[k].copy_(v)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict({**model.state_dict(), **self.state})

    def state_dict(self) -> dict:
        return {"state": self.state, "updates": self.updates}

    def load_state_dict(self, d: dict) -> None:
        if "updates" not in d:  # dsconv 0.1 saved the averaged tensors alone, unramped
            d = {"state": d, "updates": 10**9}
        self.state, self.updates = d["state"], int(d["updates"])
