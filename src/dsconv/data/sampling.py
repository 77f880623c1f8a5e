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


def epoch_batches(dataset, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The global batches of one epoch, a pure function of (dataset, batch_size, seed, epoch).

    A dataset with a `batch_plan(batch_size)` (translation pairs: batches of about batch_size
    tokens, of sentences of like length) keeps that fixed partition and only its order changes
    from epoch to epoch, so every epoch has the same number of steps; any other dataset is
    shuffled and cut into batches of batch_size items (the remainder is dropped).
    """
    plan = getattr(dataset, "batch_plan", None)
    if plan is not None:
        fixed = plan(batch_size)
        return [fixed[i] for i in epoch_order(len(fixed), seed, epoch).tolist()]
    order = epoch_order(len(dataset), seed, epoch)
    return [order[s * batch_size:(s + 1) * batch_size].tolist()
            for s in range(len(dataset) // batch_size)]


def split_batch(batch: list[int], parts: int) -> list[list[int]]:
    """`batch` cut into `parts` contiguous pieces whose sizes differ by at most one (the
    processes' and accumulation steps' shares of a global batch, in that order)."""
    size, extra = divmod(len(batch), parts)
    bounds = [i * size + min(i, extra) for i in range(parts + 1)]
    return [batch[bounds[i]:bounds[i + 1]] for i in range(parts)]
