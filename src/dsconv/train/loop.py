"""The training loop: one process or many (torchrun), resumable to the bit.

Determinism: the epoch's order and every augmentation are functions of (seed, epoch, index)
(see dsconv.data), and the global RNG (dropout) is re-seeded from (seed, rank, step) at every
step. A run killed at any point and resumed from its last checkpoint therefore replays exactly
the steps the uninterrupted run would have taken.

Distributed: under torchrun each process takes its slice of every global batch
(DistributedDataParallel averages the gradients; gloo on CPU, nccl on CUDA); rank 0 logs and
writes checkpoints. One process with accum_steps = N sees the same micro-batches as N processes.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from ..data import DataConfig, collate, digits, epoch_order, image_folders
from ..io import save_weights
from ..models import create_model, get_model_entry
from .checkpoint import (
    latest_checkpoint,
    load_checkpoint_weights,
    model_metadata,
    read_state,
    save_checkpoint,
)
from .config import TrainConfig
from .evaluate import run_eval


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def setup_distributed(device: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    rank = int(os.environ.get("RANK", "0"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


class EMA:
    """Exponential moving average of the parameters (Polyak averaging); buffers are copied."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {k: v.detach().clone().float() for k, v in model.state_dict().items()
                      if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        for k, v in model.state_dict().items():
            if k not in self.state:
                continue
            if k in params:
                self.state[k].lerp_(v.float(), 1 - self.decay)
            else:
                self.state[k].copy_(v)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict({**model.state_dict(), **self.state})


def lr_at(step: int, steps_per_epoch: int, total: int, r: dict) -> float:
    """Learning rate at `step`: linear warm-up, then cosine to 0 or step decay."""
    warm = int(r["warmup_epochs"] * steps_per_epoch)
    if step < warm:
        return r["lr"] * (step + 1) / warm
    if r["schedule"] == "cosine":
        t = (step - warm) / max(total - warm, 1)
        return r["lr"] * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if r["schedule"] == "step":
        return r["lr"] * r["decay"] ** math.floor(step / steps_per_epoch / r["decay_epochs"])
    raise ValueError(f"schedule={r['schedule']!r}: expected 'cosine' or 'step'")


def build_data(cfg: TrainConfig, in_chans: int, img_size: int):
    """(train set, validation set or None, class names)."""
    if cfg.data is None:
        train, val = digits(img_size, cfg.seed)
    else:
        dcfg = DataConfig(img_size=img_size, normalize=cfg.normalize, augment=cfg.augment,
                          hflip=cfg.hflip, val_split=cfg.val_split, seed=cfg.seed)
        train, val = image_folders(cfg.data, dcfg, in_chans)
    return train, val, train.classes


def build_model(cfg: TrainConfig, num_classes: int, r: dict) -> tuple[nn.Module, dict]:
    """The model and the kwargs that rebuild it (stored with the weights)."""
    kwargs = {"num_classes": num_classes, **cfg.model_kwargs}
    if cfg.data is None:
        kwargs.setdefault("in_chans", 1)  # the digits are grayscale
    if r["drop_rate"]:
        kwargs["drop_rate"] = r["drop_rate"]
    model = create_model(cfg.model, **kwargs)
    if cfg.bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = cfg.bn_momentum
    return model, kwargs


def make_optimizer(model: nn.Module, r: dict) -> torch.optim.Optimizer:
    # No weight decay on BN parameters and biases (1-D tensors): the usual, safer choice.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": r["weight_decay"]},
              {"params": no_decay, "weight_decay": 0.0}]
    if r["optimizer"] == "sgd":
        return torch.optim.SGD(groups, lr=r["lr"], momentum=r["momentum"], nesterov=False)
    if r["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=r["lr"])
    raise ValueError(f"optimizer={r['optimizer']!r}: expected 'adamw' or 'sgd'")


def resolve_amp(amp: str, device: torch.device) -> str:
    """'auto' -> 'bf16' on a CUDA GPU that has it, else 'none': on CPUs without native bf16
    (AVX2 machines) bf16 autocast trained the digits model 5.9x slower than fp32."""
    if amp == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "none"
    if amp not in ("none", "bf16", "fp16"):
        raise ValueError(f"amp={amp!r}: expected 'auto', 'none', 'bf16' or 'fp16'")
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device; use 'bf16' or 'none' on CPU")
    return amp


def train(cfg: TrainConfig) -> dict:
    """Train per `cfg`; returns the run summary (also written to <out>/summary.json).

    On CPU, call `dsconv.runtime.tune_allocator()` once before (the CLI does): glibc otherwise
    page-faults every large activation afresh, up to 1.35x slower per step.
    """
    out = Path(cfg.out)
    rank, world, device = setup_distributed(cfg.device)
    resume_from = latest_checkpoint(out) if cfg.resume else None
    state = read_state(resume_from) if resume_from is not None else None
    if state is not None:  # the run's own settings win, except how long to run
        cfg = TrainConfig(**{**state["config"], "epochs": cfg.epochs, "resume": True,
                             "workers": cfg.workers, "progress": cfg.progress})
    r = cfg.resolved()
    entry = get_model_entry(cfg.model)
    img_size = cfg.img_size or (16 if cfg.data is None else entry.metadata.get("input_size", 224))
    in_chans = cfg.model_kwargs.get("in_chans", 1 if cfg.data is None else 3)
    train_set, val_set, classes = build_data(cfg, in_chans, img_size)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run
    model, model_kwargs = build_model(cfg, len(classes), r)
    per_rank = cfg.batch_size // world
    micro = per_rank // cfg.accum_steps
    if micro * cfg.accum_steps * world != cfg.batch_size or micro == 0:
        raise ValueError(f"batch_size={cfg.batch_size} must be a multiple of processes "
                         f"({world}) x accum_steps ({cfg.accum_steps})")
    steps_per_epoch = len(train_set) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(train_set)} training images is fewer than one batch "
                         f"({cfg.batch_size}); lower --batch-size")
    total = steps_per_epoch * cfg.epochs
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, r)
    ema = EMA(model, r["ema_decay"]) if r["ema_decay"] else None
    step, history, skipped = 0, [], set()
    if state is not None:
        load_checkpoint_weights(resume_from, model)
        opt.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.state = state["ema"]
        step, history, skipped = state["step"], state["history"], set(state["skipped"])
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
    if cfg.compile:
        net = torch.compile(net)
    amp = resolve_amp(cfg.amp, device)
    amp_dtype = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    scaler = torch.amp.GradScaler(enabled=amp == "fp16")
    info = {"model": cfg.model, "model_kwargs": model_kwargs, "classes": classes,
            "img_size": img_size, "in_chans": in_chans, "normalize": cfg.normalize,
            "data": cfg.data}
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    tb = _tensorboard(out) if cfg.tensorboard and rank == 0 else None

    def state_dict() -> dict:
        return {"optimizer": opt.state_dict(), "ema": ema.state if ema else None, "step": step,
                "history": history, "skipped": sorted(skipped), "config": asdict(cfg)}

    t_start = time.perf_counter()
    while step < total:
        epoch, first = divmod(step, steps_per_epoch)
        train_set.epoch = epoch
        order = epoch_order(len(train_set), cfg.seed, epoch)
        batches = []
        for s in range(first, steps_per_epoch):
            mine = order[s * cfg.batch_size:(s + 1) * cfg.batch_size][
                rank * per_rank:(rank + 1) * per_rank]
            batches += [mine[i * micro:(i + 1) * micro].tolist() for i in range(cfg.accum_steps)]
        loader = DataLoader(train_set, batch_sampler=batches, collate_fn=collate,
                            num_workers=cfg.workers if cfg.data else 0)
        it = iter(loader)
        bar = _progress(cfg, rank, steps_per_epoch - first, epoch)
        sums = torch.zeros(3, dtype=torch.float64)  # loss * n, correct, n
        t_epoch = time.perf_counter()
        for _ in range(first, steps_per_epoch):
            torch.manual_seed(hash((cfg.seed, rank, step)) % 2**62)  # dropout, reproducibly
            lr = lr_at(step, steps_per_epoch, total, r)
            for g in opt.param_groups:
                g["lr"] = lr
            net.train()
            step_sums = torch.zeros(3, dtype=torch.float64)
            for k in range(cfg.accum_steps):
                x, y, bad = next(it)
                skipped.update(train_set.samples[i][0].as_posix() for i in bad)
                if x is None:
                    continue
                x, y = x.to(device), y.to(device)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                sync = k == cfg.accum_steps - 1 or world == 1
                ctx = net.no_sync() if (world > 1 and not sync) else nullcontext()
                with ctx, torch.autocast(device.type, amp_dtype, enabled=amp_dtype is not None):
                    logits = net(x)
                    loss = nn.functional.cross_entropy(logits.float(), y,
                                                       label_smoothing=r["label_smoothing"])
                    scaler.scale(loss / cfg.accum_steps).backward()
                step_sums += torch.tensor([loss.item() * len(y),
                                           (logits.argmax(1) == y).sum().item(), len(y)],
                                          dtype=torch.float64)
            if world > 1:
                dist.all_reduce(step_sums)
            if not math.isfinite(step_sums[0].item()):
                last = latest_checkpoint(out)
                raise TrainingDiverged(
                    f"loss became {step_sums[0].item()} at step {step} (epoch {epoch}); the last "
                    f"good checkpoint is {last or 'none'}: lower --lr or set --grad-clip, then "
                    "resume with --resume")
            if cfg.grad_clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(model)
            sums += step_sums
            step += 1
            if bar is not None:
                n = max(sums[2].item(), 1)
                bar.set_postfix(loss=f"{sums[0].item() / n:.3f}", acc=f"{sums[1].item() / n:.3f}",
                                img_s=f"{n / (time.perf_counter() - t_epoch):.0f}")
                bar.update()
            if rank == 0 and cfg.ckpt_every and step % cfg.ckpt_every == 0 \
                    and step % steps_per_epoch:
                save_checkpoint(out, step, model, state_dict(), cfg.keep_checkpoints)
        if bar is not None:
            bar.close()
        row = _epoch_row(epoch, step, lr, sums, t_epoch, model, ema, val_set, classes, cfg,
                         device, rank)
        history.append(row)
        if rank == 0:
            save_checkpoint(out, step, model, state_dict(), cfg.keep_checkpoints)
            _write_metrics(out, history)
            if tb is not None:
                for k, v in row.items():
                    if isinstance(v, float):
                        tb.add_scalar(k, v, step)
            if cfg.progress:
                print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row.items()), flush=True)
    summary = {"model": cfg.model, "epochs": cfg.epochs, "steps": step, "processes": world,
               "wall_s": time.perf_counter() - t_start, "skipped_images": len(skipped),
               "skipped_files": sorted(skipped), "final": history[-1] if history else None,
               "out": str(out)}
    if world > 1:
        # Every rank's parameter checksum, taken before rank 0 swaps in the EMA weights:
        # DDP must have kept them identical.
        mine = torch.tensor([sum(p.double().sum().item() for p in model.parameters())],
                            dtype=torch.float64)
        gathered = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
        dist.all_gather(gathered, mine)
        summary["rank_checksums"] = [g.item() for g in gathered]
    if rank == 0:
        final = model
        if ema is not None:
            ema.copy_to(final)
        save_weights(final, out / "model.safetensors", metadata=model_metadata(info))
        try:
            from .plots import plot_curves

            plot_curves(history, out / "curves.png")
        except ImportError:
            pass
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if world > 1:
        dist.barrier()
    return summary


def _epoch_row(epoch, step, lr, sums, t_epoch, model, ema, val_set, classes, cfg, device, rank):
    n = max(sums[2].item(), 1)
    row = {"epoch": epoch + 1, "step": step, "lr": lr, "train_loss": sums[0].item() / n,
           "train_acc": sums[1].item() / n,
           "img_per_s": n / (time.perf_counter() - t_epoch)}
    if val_set is not None and rank == 0:
        eval_model = model
        if ema is not None:
            import copy

            eval_model = copy.deepcopy(model)
            ema.copy_to(eval_model)
        m = run_eval(eval_model, val_set, len(classes), workers=cfg.workers if cfg.data else 0,
                     device=device, channels_last=cfg.channels_last)
        row.update(val_loss=m["loss"], val_top1=m["top1"], val_top5=m["top5"])
    return row


def _write_metrics(out: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    tmp = out / "metrics.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, keys)
        w.writeheader()
        w.writerows(history)
    os.replace(tmp, out / "metrics.csv")


def _progress(cfg: TrainConfig, rank: int, n: int, epoch: int):
    if not cfg.progress or rank != 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    # disable=None: no bar when stderr is not a terminal (CI logs, nohup).
    return tqdm(total=n, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=None)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ImportError("--tensorboard needs the tensorboard package") from err
    return SummaryWriter(out / "tensorboard")

