"""The learning-rate schedule: linear warm-up, then cosine to 0, step decay or the inverse
square root of the step (rsqrt: the Transformer's, continuous with the warm-up's peak)."""

from __future__ import annotations

import math

from .config import Recipe


def lr_at(step: int, steps_per_epoch: int, total: int, r: Recipe) -> float:
    """Learning rate at `step` (0-based) of a `total`-step run.

    Warm-up is capped at a fifth of the run: a one-epoch run with one epoch of warm-up would
    otherwise end before the rate ever peaks.
    """
    warm = min(int(r.warmup_epochs * steps_per_epoch), total // 5)
    if step < warm:
        return r.lr * (step + 1) / warm
    if r.schedule == "cosine":
        t = (step - warm) / max(total - warm, 1)
        return r.lr * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if r.schedule == "rsqrt":
        return r.lr * math.sqrt(max(warm, 1) / (step + 1))
    if r.schedule == "step":
        if r.decay_epochs <= 0:
            raise ValueError("schedule='step' needs decay_epochs > 0 (paper: 2) and a decay")
        return r.lr * r.decay ** math.floor(step / steps_per_epoch / r.decay_epochs)
    raise ValueError(f"schedule={r.schedule!r}: expected 'cosine', 'step' or 'rsqrt'")
