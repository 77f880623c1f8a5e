"""Precise BN: re-estimate BatchNorm running statistics before evaluating or saving.

Running statistics are an exponential average over the last ~1/momentum steps, taken while the
weights were still moving. In a short run they describe weights that no longer exist: a one-
epoch run on the digits reached 0.76 train accuracy and 0.096 (chance) test accuracy, all of it
from stale statistics. Recomputing them as a plain average over a few hundred training samples
with the final weights (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021) fixes that and
costs a few forward passes. BN layers in inference mode (frozen for fine-tuning) are left as
they are.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..data import collate, epoch_order


@torch.no_grad()
def recalibrate_bn(model: nn.Module, dataset, samples: int, batch_size: int, seed: int,
                   device: torch.device, skip_prefixes: tuple[str, ...] = ()) -> int:
    """Recompute the running mean/var of `model`'s BN layers (but those named with one of
    `skip_prefixes`) over `samples` training items; returns how many samples were used."""
    bns = [m for n, m in model.named_modules()
           if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
           and not n.startswith(skip_prefixes)]
    if not bns or samples <= 0:
        return 0
    saved = [(m.momentum, m.training) for m in bns]
    was_training = model.training
    model.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over every batch seen
        m.train()
    pick = epoch_order(len(dataset), seed, -1)[:samples].tolist()
    n = 0
    for x, _, _ in DataLoader(Subset(dataset, pick), batch_size=batch_size, collate_fn=collate):
        if x is not None and len(x) > 1:
            model(x.to(device))
            n += len(x)
    for m, (momentum, training) in zip(bns, saved):
        m.momentum = momentum
        m.train(training)
    model.train(was_training)
    return n
