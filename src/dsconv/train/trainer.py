"""The training run in named steps: setup -> (train_one_epoch+ -> validate -> log_epoch)* ->
finalize; the recipe's `validations` groups epochs between validations (0: one each). One
process or many (torchrun), resumable to the bit. With save_best, log_epoch keeps the best
epoch's weights in best.safetensors; with patience, it ends the loop early.

Determinism: the epoch's order and every augmentation are functions of (seed, epoch, index)
(see dsconv.data.sampling), and the global RNG (dropout) is re-seeded from (seed, rank, step)
at every step. A run killed at any point and resumed from its last checkpoint therefore
replays exactly the steps the uninterrupted run would have taken.

Distributed: under torchrun each process takes its slice of every global batch
(DistributedDataParallel averages the gradients; gloo on CPU, nccl on CUDA); rank 0 logs and
writes checkpoints. One process with accum_steps = N sees the same micro-batches as N processes.
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from ..data import collate, epoch_batches, split_batch
from ..models.seq2seq import Seq2Seq
from ..utils import folder_lock
from ..weights import save_model
from .checkpoint import last_good_checkpoint, latest_checkpoint, save_checkpoint
from .config import TrainConfig
from .distributed import env_rank
from .metrics import run_eval
from .optim import set_base_frozen
from .precise_bn import recalibrate_bn
from .reporting import epoch_line, progress_bar, write_final_reports, write_metrics_csv
from .run import Run
from .schedule import lr_at
from .setup import data_settings, setup
from .translation import validate_translation


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during training; the message says where it stopped and how to resume."""


def train(cfg: TrainConfig) -> dict:
    """Train per `cfg`; returns the run summary (also written to <out>/summary.json).

    On CPU, call `dsconv.utils.tune_allocator()` once before (the CLI does): glibc otherwise
    page-faults every large activation afresh, up to 1.35x slower per step.

    An ensemble (cfg.ensemble N > 1, a registered ensemble model, an --init ensemble file, or
    --resume of a folder holding one) trains its N members one after another: see
    `train.ensemble`; its summary then gives each member's figures and the ensemble's.
    """
    from .ensemble import is_ensemble_run, train_ensemble  # (it runs this for each member)

    if is_ensemble_run(cfg):
        return train_ensemble(cfg)
    # One writer per run folder (rank 0 writes; the other ranks only read it).
    lock = folder_lock(cfg.out, "a training run") if env_rank() == 0 else nullcontext()
    with lock:
        run = setup(cfg)
        t_start = time.perf_counter()
        if cfg.time_limit:
            run.deadline = t_start + 60 * cfg.time_limit
        try:
            while run.step < run.total and not run.stopped:
                row = train_until_validation(run)
                row.update(validate(run))
                log_epoch(run, row)
        except KeyboardInterrupt:
            raise TrainingInterrupted(interrupted_message(run)) from None
        return finalize(run, time.perf_counter() - t_start)


def interrupted_message(run: Run) -> str:
    """Where an interrupted run stopped, and how to continue it."""
    epoch = run.step // run.steps_per_epoch
    last = latest_checkpoint(run.out)
    where = f"interrupted at step {run.step} (epoch {epoch + 1} of {run.cfg.epochs})"
    if last is None:
        return f"{where}; no checkpoint was written yet: start again"
    return (f"{where}; the last checkpoint is {last}: continue with "
            f"`dsconv train --resume --out {run.out}`")


def train_until_validation(run: Run) -> dict:
    """Train epochs until the next validation is due (every `run.val_every` epochs, after the
    last, or when stopped); returns their train row, averaged over their samples."""
    rows = []
    while True:
        rows.append(train_one_epoch(run))
        if run.stopped or run.step >= run.total or rows[-1]["epoch"] % run.val_every == 0:
            break
    n, seconds = [r.pop("samples") for r in rows], [r.pop("seconds") for r in rows]
    if len(rows) == 1:
        return rows[0]
    row = dict(rows[-1])
    for key in ("train_loss", "train_acc"):
        row[key] = sum(r[key] * k for r, k in zip(rows, n, strict=True)) / max(sum(n), 1)
    row[run.rate_key] = sum(n) / sum(seconds)
    return row


def train_one_epoch(run: Run) -> dict:
    """Train from the current step to the end of its epoch; returns the epoch's train row."""
    cfg = run.cfg
    epoch, first = divmod(run.step, run.steps_per_epoch)
    run.train_set.epoch = epoch
    it = iter(_epoch_loader(run, epoch, first))
    bar = progress_bar(cfg, run.rank, run.steps_per_epoch - first, epoch)
    sums = torch.zeros(3, dtype=torch.float64)  # loss * n, correct, n
    t_epoch = time.perf_counter()
    lr = 0.0
    for _ in range(first, run.steps_per_epoch):
        lr, step_sums = train_step(run, it, epoch)
        sums += step_sums
        if bar is not None:
            n = max(sums[2].item(), 1)
            bar.set_postfix({"loss": f"{sums[0].item() / n:.3f}",
                             "acc": f"{sums[1].item() / n:.3f}",
                             run.rate_key.replace("_per", ""):
                                 f"{n / (time.perf_counter() - t_epoch):.0f}"})
            bar.update()
        if run.rank == 0 and cfg.ckpt_every and run.step % cfg.ckpt_every == 0 \
                and run.step % run.steps_per_epoch:
            save_checkpoint(run.out, run.step, run.model, run.state_dict(), cfg.keep_checkpoints)
        if out_of_time(run):
            break
    if bar is not None:
        bar.close()
    n, seconds = max(sums[2].item(), 1), time.perf_counter() - t_epoch
    return {"epoch": epoch + 1, "step": run.step, "lr": lr, "train_loss": sums[0].item() / n,
            "train_acc": sums[1].item() / n, run.rate_key: n / seconds,
            "samples": n, "seconds": seconds}


def out_of_time(run: Run) -> bool:
    """Whether --time-limit has passed (rank 0's clock decides, so all ranks stop together);
    when it has, run.stopped says where."""
    if run.deadline is None:
        return False
    over = torch.tensor([time.perf_counter() > run.deadline])
    if run.world > 1:
        dist.broadcast(over, src=0)
    if over.item() and run.step < run.total:
        run.timed_out = True
        run.stopped = (f"stopped at the time limit of {run.cfg.time_limit:g} min, at step "
                       f"{run.step} of {run.total} (epoch {run.step / run.steps_per_epoch:.2f} "
                       f"of {run.cfg.epochs}); --resume continues it")
    return run.stopped is not None


def _epoch_loader(run: Run, epoch: int, first: int) -> DataLoader:
    """This rank's micro-batches from step `first` to the end of the epoch: each global batch
    is cut into processes x accum_steps pieces, and this rank takes its accum_steps of them."""
    cfg = run.cfg
    mine = slice(run.rank * cfg.accum_steps, (run.rank + 1) * cfg.accum_steps)
    batches = [piece for batch in epoch_batches(run.train_set, cfg.batch_size, cfg.seed,
                                                epoch)[first:]
               for piece in split_batch(batch, run.world * cfg.accum_steps)[mine]]
    return DataLoader(run.train_set, batch_sampler=batches, num_workers=run.workers,
                      collate_fn=getattr(run.train_set, "collate", collate))


def train_step(run: Run, it, epoch: int) -> tuple[float, torch.Tensor]:
    """One optimizer step over accum_steps micro-batches; returns (lr, (loss * n, correct, n))."""
    cfg = run.cfg
    torch.manual_seed(hash((cfg.seed, run.rank, run.step)) % 2**62)  # dropout, reproducibly
    lr = lr_at(run.step, run.steps_per_epoch, run.total, run.recipe)
    for g in run.opt.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
    run.net.train()
    if cfg.freeze_epochs or cfg.freeze_bn:  # every step: unfreezing must undo it too
        frozen = epoch < cfg.freeze_epochs
        set_base_frozen(run.model, frozen, bn_eval=frozen or cfg.freeze_bn)
    sums = torch.zeros(3, dtype=torch.float64)
    for k in range(cfg.accum_steps):
        x, y, bad = next(it)
        run.skipped.update(run.train_set.samples[i][0].as_posix() for i in bad)
        if x is None:
            continue
        sums += _forward_backward(run, x, y, sync=k == cfg.accum_steps - 1 or run.world == 1)
    if run.world > 1:
        dist.all_reduce(sums)
    if not math.isfinite(sums[0].item()):
        good = last_good_checkpoint(run.out) if run.rank == 0 else None
        raise TrainingDiverged(
            f"loss became {sums[0].item()} at step {run.step} (epoch {epoch}); the last good "
            f"checkpoint is {good or 'none'}: resume from it with --resume and a lower --lr "
            "or a --grad-clip")
    if cfg.grad_clip:
        run.scaler.unscale_(run.opt)
        nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.scaler.step(run.opt)
    run.scaler.update()
    run.opt.zero_grad(set_to_none=True)
    if run.ema is not None:
        run.ema.update(run.model)
    run.step += 1
    return lr, sums


def _forward_backward(run: Run, x: torch.Tensor | tuple[torch.Tensor, ...], y: torch.Tensor,
                      sync: bool) -> torch.Tensor:
    """Loss and gradients of one micro-batch; returns (loss * n, correct, n).

    x: the inputs (N, C, *S), or a tuple of the model's inputs (a translation model's source
    (N, S) and shifted target (N, T)). y: the targets, one per input (N,) for a classifier,
    one per target token (N, T) for a translator, -100 where there is none (padding): the
    loss is the mean over the targets, n counts them, and correct counts the right ones.
    """
    inputs = tuple(t.to(run.device) for t in x) if isinstance(x, tuple) else (x.to(run.device),)
    y = y.to(run.device)
    if run.cfg.channels_last and inputs[0].dim() == 4:
        inputs = (inputs[0].contiguous(memory_format=torch.channels_last),)
    ctx = run.net.no_sync() if (run.world > 1 and not sync) else nullcontext()
    dtype = run.precision.dtype
    with ctx, torch.autocast(run.device.type, dtype, enabled=dtype is not None):
        logits = run.net(*inputs)
        loss = nn.functional.cross_entropy(logits.float().flatten(0, -2), y.flatten(),
                                           label_smoothing=run.recipe.label_smoothing)
        run.scaler.scale(loss / run.cfg.accum_steps).backward()
    real = y != -100
    n = real.sum().item()
    return torch.tensor([loss.item() * n, (logits.argmax(-1).eq(y) & real).sum().item(), n],
                        dtype=torch.float64)


def eval_model(run: Run) -> nn.Module:
    """The weights that are evaluated and saved: the EMA's when there is one, with precise BN
    statistics (a copy: the training state is untouched, so resuming stays exact). The last
    epoch's validation and the final save share one copy."""
    if run.evaluated is not None and run.evaluated[0] == run.step:
        return run.evaluated[1]
    cfg = run.cfg
    model = copy.deepcopy(run.model)
    if run.ema is not None:
        run.ema.copy_to(model)
    frozen = cfg.freeze_bn or run.step <= cfg.freeze_epochs * run.steps_per_epoch
    # The base's BN statistics stay as loaded while they are frozen; the head has none.
    skip = ("blocks.",) if frozen and (cfg.freeze_bn or cfg.freeze_epochs) else ()
    recalibrate_bn(model, run.train_set, cfg.precise_bn, max(cfg.batch_size // run.world, 2),
                   cfg.seed, run.device, skip)
    run.evaluated = (run.step, model)
    return model


def validate(run: Run) -> dict:
    """Validation loss and accuracy (rank 0; {} without a validation set); for a translation
    model, perplexity and greedy sacreBLEU too (val_top1: next-token accuracy)."""
    if run.val_set is None or run.rank != 0:
        return {}
    if isinstance(run.model, Seq2Seq):
        m = validate_translation(eval_model(run), run.val_set, run.preprocess, device=run.device)
        return {"val_loss": m["loss"], "val_ppl": m["ppl"], "val_top1": m["top1"],
                "val_bleu": m["bleu"], "val_chrf": m["chrf"]}
    m = run_eval(eval_model(run), run.val_set, len(run.train_set.classes),
                 workers=run.workers, device=run.device,
                 channels_last=run.cfg.channels_last)
    row = {"val_loss": m["loss"], "val_top1": m["top1"]}
    if len(run.train_set.classes) > 5:
        row["val_top5"] = m["top5"]
    return row


def log_epoch(run: Run, row: dict) -> None:
    """Record the epoch: history, best.safetensors, checkpoint, metrics.csv, TensorBoard, one
    printed line; then whether to stop early."""
    run.history.append(row)
    if run.rank == 0:
        if run.best is not None and run.best.update(row):
            save_best(run, row)  # before the checkpoint that records the epoch: never missed
        save_checkpoint(run.out, run.step, run.model, run.state_dict(), run.cfg.keep_checkpoints)
        write_metrics_csv(run.out, run.history)
        if run.tb is not None:
            for k, v in row.items():
                if isinstance(v, float):
                    run.tb.add_scalar(k, v, run.step)
        if run.cfg.progress:
            print(epoch_line(row), flush=True)
    if run.best is not None and not run.stopped:
        run.stopped = early_stop(run, row["epoch"])
    elif run.stopped and run.rank == 0 and run.cfg.progress:
        print(run.stopped, flush=True)


def early_stop(run: Run, epoch: int) -> str | None:
    """Why to stop after `epoch`, or None: rank 0 decides (it alone validates), all ranks obey."""
    verdict = [run.best.stop_message(epoch) if run.rank == 0 else None]
    if run.world > 1:
        dist.broadcast_object_list(verdict, src=0)
    if verdict[0] and run.rank == 0 and run.cfg.progress:
        print(verdict[0], flush=True)
    return verdict[0]


def save_best(run: Run, row: dict) -> None:
    """<out>/best.safetensors: this epoch's evaluated weights, the best so far."""
    best = {"epoch": run.best.epoch, "metric": run.best.metric, "value": run.best.value}
    save_model(eval_model(run), run.out / "best.safetensors", run.model_name,
               run.train_set.classes, run.preprocess, _provenance(run, best=best, metrics=row))


def _provenance(run: Run, **extra) -> dict:
    """What a model file written by this run says about where it came from."""
    return {**run.provenance, "created_by": "dsconv train", "data": run.cfg.data,
            "val_split": run.cfg.val_split, "seed": run.cfg.seed,  # evaluate rebuilds the split
            "split_seed": data_settings(run.cfg, {}).held_out_seed,
            "epochs": run.cfg.epochs, "steps": run.step, "precision": run.precision.name,
            **extra}


def finalize(run: Run, wall_s: float) -> dict:
    """Write the model file (EMA weights if any), curves and summary; returns the summary."""
    cfg = run.cfg
    summary = {"model": run.model_name, "epochs": cfg.epochs, "steps": run.step,
               "epochs_done": run.step / run.steps_per_epoch,
               "processes": run.world, "wall_s": wall_s, "skipped_images": len(run.skipped),
               "skipped_files": sorted(run.skipped),
               "final": run.history[-1] if run.history else None, "out": str(run.out),
               "precision": run.precision.name,
               "val_name": run.val_name, "stopped_early": run.stopped,
               "timed_out": run.timed_out,
               "best": None if run.best is None or run.best.value is None else {
                   "epoch": run.best.epoch, "metric": run.best.metric,
                   "value": run.best.value, "path": str(run.out / "best.safetensors")}}
    if run.world > 1:
        from .distributed import rank_checksums

        summary["rank_checksums"] = rank_checksums(run.model, run.world)
    if run.rank == 0:
        stopped = {"stopped_early": run.stopped} if run.stopped else {}
        save_model(eval_model(run), run.out / "model.safetensors", run.model_name,
                   run.train_set.classes, run.preprocess,
                   _provenance(run, final=summary["final"], **stopped))
        write_final_reports(run.out, run.history, summary)
    if run.world > 1:
        dist.barrier()
    return summary
