"""Optimizer, parameter groups (head vs base, decay vs none), freezing."""

from __future__ import annotations

import torch
from torch import nn

from .config import Recipe


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the classifier head's parameters (what fine-tuning trains first; none in a
    model without a `head`, such as a translation model, whose output layer is its embedding)."""
    head = getattr(model, "head", None)
    return {f"head.{n}" for n, _ in head.named_parameters()} if head is not None else set()


def make_optimizer(model: nn.Module, r: Recipe, base_lr_scale: float = 1.0
                   ) -> torch.optim.Optimizer:
    """Groups: weight decay on >= 2-D tensors only (not BN parameters and biases); the base
    (all but the head) at `base_lr_scale` x the rate (`lr_scale` in each group)."""
    head = head_parameter_names(model)
    groups = []
    for is_head in (True, False):
        for decay in (True, False):
            params = [p for n, p in model.named_parameters()
                      if (n in head) == is_head and (p.ndim > 1) == decay]
            if params:
                groups.append({"params": params, "weight_decay": r.weight_decay if decay else 0.0,
                               "lr_scale": 1.0 if is_head else base_lr_scale})
    if r.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=False)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=r.lr, betas=(0.9, r.beta2))
    raise ValueError(f"optimizer={r.optimizer!r}: expected 'adamw' or 'sgd'")


def set_base_frozen(model: nn.Module, frozen: bool, bn_eval: bool) -> None:
    """Freeze (or not) everything but the head; bn_eval puts the base's BN in inference mode,
    so its running statistics stay as they are (call after model.train())."""
    head = head_parameter_names(model)
    for n, p in model.named_parameters():
        p.requires_grad_(n in head or not frozen)
    if bn_eval:
        for name, m in model.named_modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not name.startswith("head."):
                m.eval()
