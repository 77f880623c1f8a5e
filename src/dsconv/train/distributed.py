"""One process or many (torchrun): rank, world size and device, and the DDP checksum."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device={device!r}: expected auto, cpu, cuda or cuda:N") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}, but this torch sees no CUDA GPU (a CPU build, or "
                         "no GPU visible): use --device cpu")
    return dev


def env_rank() -> int:
    """This process's rank under torchrun (0 when alone), before any process group exists."""
    return int(os.environ.get("RANK", "0"))


def setup_distributed(device: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun."""
    dev = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = env_rank()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", dev.index or 0))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, dev


def rank_checksums(model: nn.Module, world: int) -> list[float]:
    """Every rank's parameter sum: DDP must have kept them identical."""
    mine = torch.tensor([sum(p.double().sum().item() for p in model.parameters())],
                        dtype=torch.float64)
    gathered = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(gathered, mine)
    return [g.item() for g in gathered]
