"""What every modality's `predict_inputs` shares: folders expanded to files, tensors as numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import Inputs


def expand_paths(inputs: Inputs, suffixes: tuple[str, ...], what: str
                 ) -> list[tuple[str, str | None]]:
    """(path, error or None) per file: a folder becomes its files with those suffixes (sorted,
    recursive, hidden ones skipped), or one error when it has none."""
    paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    out = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append((str(path), None if path.is_file() else "file not found"))
            continue
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                       and not any(s.startswith(".") for s in p.relative_to(path).parts))
        out += [(str(p), None) for p in found] or [
            (str(path), f"this folder holds no {what} ({', '.join(suffixes)})")]
    return out


def as_numpy(batch: torch.Tensor | np.ndarray) -> np.ndarray:
    """An in-memory batch as numpy (numpy has no bfloat16: torch floats are widened first)."""
    if isinstance(batch, torch.Tensor):
        t = batch.detach().cpu()
        return (t.double() if t.is_floating_point() else t).numpy()
    return batch
