"""Deterministic sampling: the epoch's order and each sample's augmentation are pure functions
of (seed, epoch, index), so a run killed and resumed sees exactly the batches an uninterrupted
run would, in any number of worker processes.
"""

from __future__ import annotations

import torch


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one sample's augmentation, a pure function of (seed, epoch, index)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + index)


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """The sample order of one epoch, a pure function of (n, seed, epoch)."""
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
