"""Checkpoints that survive faults.

Layout: <out>/checkpoints/step-00000123/{weights.safetensors, state.pt} and a `latest` file
naming the newest complete one. A checkpoint is written into a temporary directory, then
renamed, and only then does `latest` (itself replaced atomically) point to it: a crash at any
moment leaves the previous checkpoint loadable. state.pt holds only tensors and plain Python
values and is read with `torch.load(weights_only=True)`: nothing arbitrary is unpickled.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from torch import nn

from ..utils import atomic_write_text
from ..weights import load_state_checked, read_safetensors, save_weights


def save_checkpoint(out: Path, step: int, model: nn.Module, state: dict, keep: int = 2) -> Path:
    """Write checkpoint `step` (weights + state) atomically; keep the newest `keep`."""
    root = out / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_weights(model, tmp / "weights.safetensors")
    torch.save(state, tmp / "state.pt")
    with open(tmp / "state.pt", "rb") as fh:  # make sure the bytes are on disk before renaming
        os.fsync(fh.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write_text(root / "latest", final.name)
    done = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(out: Path) -> Path | None:
    """The newest complete checkpoint directory, or None."""
    pointer = out / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    path = out / "checkpoints" / pointer.read_text().strip()
    return path if (path / "state.pt").is_file() else None


def read_state(path: Path) -> dict:
    """The checkpoint's state (optimizer, step, config, ...), read with weights_only=True."""
    try:
        return torch.load(path / "state.pt", weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path / 'state.pt'}: unreadable checkpoint state ({err})") from err


def load_checkpoint_weights(path: Path, model: nn.Module) -> None:
    """Load the checkpoint's weights into `model`; mismatches raise a ValueError naming them."""
    load_state_checked(model, read_safetensors(path / "weights.safetensors"), str(path))


def load_checkpoint(path: Path, model: nn.Module) -> dict:
    """Load weights into `model` and return the state dict (optimizer, step, config, ...)."""
    load_checkpoint_weights(path, model)
    return read_state(path)


def last_good_checkpoint(out: Path) -> Path | None:
    """The newest checkpoint whose weights are all finite; `latest` is pointed at it.

    A step that ends in NaN weights is only seen at the next forward pass, after its
    checkpoint may have been written: resuming from that one would diverge again at once.
    """
    root = out / "checkpoints"
    for path in sorted((p for p in root.glob("step-*") if p.is_dir()), reverse=True):
        try:
            state = read_safetensors(path / "weights.safetensors")
        except ValueError:
            continue
        if all(t.isfinite().all() for t in state.values() if t.is_floating_point()):
            atomic_write_text(root / "latest", path.name)
            return path
    return None
