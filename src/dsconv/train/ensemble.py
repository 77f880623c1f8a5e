"""`train --ensemble N`: N networks trained one after another, then one ensemble model file.

Member i is a normal run of the same config with seed seed+i (its own initial weights, data
order, augmentation and dropout) in <out>/member-i/, resumable as any run. All members hold out
the same split (split_seed: the ensemble's --seed unless given), so the ensemble is scored on
data none of them trained on. Then <out>/model.safetensors holds them all (`models.Ensemble`:
probabilities averaged) and each member and the ensemble are evaluated on the validation (or
test) split; summary.json and members.csv put their figures side by side. <out>/ensemble.json
records the config: `--resume --out DIR` keeps the finished members and resumes the rest.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from contextlib import nullcontext
from pathlib import Path

from ..data import labelled_split, modality_named
from ..models import Ensemble, model_info
from ..utils import atomic_write_text, folder_lock
from ..weights import ModelMeta, combine_model_files, ensemble_size, split_model_file
from .config import TrainConfig
from .distributed import env_rank, resolve_device
from .metrics import run_eval
from .setup import (
    ENSEMBLE_RECORD,
    data_settings,
    holds_run,
    occupied,
    remove_members,
    resumed_config,
)
from .trainer import TrainingInterrupted, train


def ensemble_plan(cfg: TrainConfig) -> tuple[str | None, int]:
    """(the members' model, how many) that `cfg` asks for: --ensemble N of --model; a
    registered ensemble (litetime: 5 x lite) or an --init ensemble file gives its own number.
    The model is None where the modality's default (or the --init file's) applies."""
    model, n = cfg.model, cfg.ensemble
    registered = model_info(model).ensemble if model is not None else None
    if registered:
        if n not in (None, registered[1]):
            raise ValueError(f"--model {model} is an ensemble of {registered[1]} "
                             f"{registered[0]}: drop --ensemble {n}, or train --model "
                             f"{registered[0]} --ensemble {n}")
        model, n = registered
    k = ensemble_size(cfg.init) if cfg.init is not None else 1
    if k > 1:
        if n not in (None, k):
            raise ValueError(f"--init {cfg.init} holds an ensemble of {k}: each member starts "
                             f"from one of its members, so leave out --ensemble {n}")
        n = k
    return model, n or 1


def is_ensemble_run(cfg: TrainConfig) -> bool:
    """Whether `train(cfg)` trains an ensemble: more than one network asked for, or --resume
    of a folder that holds an ensemble's run."""
    return ensemble_plan(cfg)[1] > 1 or bool(cfg.resume) and (
        Path(cfg.out) / ENSEMBLE_RECORD).exists()


def train_ensemble(cfg: TrainConfig) -> dict:
    """Train the members, then write and score the ensemble (see the module's docstring).
    Returns the summary (also <out>/summary.json)."""
    lock = folder_lock(cfg.out, "an ensemble's training") if env_rank() == 0 else nullcontext()
    with lock:
        start, limit = time.perf_counter(), cfg.time_limit  # this invocation's, not the record's
        cfg = dataclasses.replace(prepare_ensemble_out(cfg), time_limit=limit)
        member, n = ensemble_plan(cfg)
        if cfg.overwrite and not cfg.resume and env_rank() == 0:
            clear_previous(cfg, n)
        inits = member_inits(cfg, n)
        for i in range(n):  # the time limit is all the members' together
            left = None if limit is None else limit - (time.perf_counter() - start) / 60
            if left is not None and left <= 0:
                return out_of_time(cfg, n, i)
            if not train_member(cfg, member, i, n, inits[i], left):
                return out_of_time(cfg, n, i)
        paths = [member_dir(cfg, i) / "model.safetensors" for i in range(n)]
        return finish(cfg, paths, time.perf_counter() - start)


def prepare_ensemble_out(cfg: TrainConfig) -> TrainConfig:
    """The config to run (a resumed ensemble's own, as `setup.prepare_out` does for one run),
    recorded in <out>/ensemble.json; a folder holding another run is refused."""
    out, say, rank0 = Path(cfg.out), _say(cfg), env_rank() == 0
    record = out / ENSEMBLE_RECORD
    if cfg.resume and record.exists():
        cfg = resumed_config(cfg, json.loads(record.read_text())["config"], say)
    elif not rank0:  # (rank 0 refuses; the others may already see the record it writes)
        return cfg
    elif holds_run(out) and cfg.resume:
        raise ValueError(f"{out} holds the run of one network, not an ensemble's: train the "
                         "ensemble in another --out")
    elif holds_run(out) and not cfg.overwrite:
        raise occupied(out)
    elif cfg.resume:
        say(f"--resume: no ensemble in {out}, starting from scratch")
    if rank0:  # (a resumed ensemble's too: a raised --epochs is its own from now on)
        atomic_write_text(record, json.dumps({"config": dataclasses.asdict(cfg)}, indent=1))
    return cfg


def clear_previous(cfg: TrainConfig, n: int) -> None:
    """--overwrite: remove what the folder's previous ensemble left that this one will not
    rewrite before it ends (its model file and figures, members beyond n), so a folder never
    shows an old ensemble's results beside the new one's record, even if the new run stops."""
    out = Path(cfg.out)
    for name in ("model.safetensors", "summary.json", "members.csv"):
        (out / name).unlink(missing_ok=True)
    for old in remove_members(out, keep=n):
        _say(cfg)(f"--overwrite: removed {old} (a member of the previous ensemble)")


def member_dir(cfg: TrainConfig, i: int) -> Path:
    return Path(cfg.out) / f"member-{i}"


def member_inits(cfg: TrainConfig, n: int) -> list[str | None]:
    """Each member's --init: an ensemble file's own members (written beside each member's
    run as init.safetensors), else the one --init file (or None) for all."""
    if cfg.init is None or ensemble_size(cfg.init) == 1:
        return [cfg.init] * n
    outs = [member_dir(cfg, i) / "init.safetensors" for i in range(n)]
    return [str(p) for p in split_model_file(cfg.init, outs)]


def train_member(cfg: TrainConfig, member: str | None, i: int, n: int, init: str | None,
                 minutes: float | None) -> bool:
    """Train member i (seed seed+i) unless a resumed ensemble has it finished; False when the
    time limit stopped it."""
    run = dataclasses.replace(cfg, model=member, ensemble=1, seed=cfg.seed + i,
                              split_seed=data_settings(cfg, {}).held_out_seed,
                              out=str(member_dir(cfg, i)), init=init, time_limit=minutes)
    what = f"ensemble member {i + 1} of {n} (seed {run.seed}, {run.out})"
    if member_finished(run):
        _say(cfg)(f"{what}: finished, kept")
        return True
    _say(cfg)(what)
    try:
        return not train(run)["timed_out"]
    except TrainingInterrupted as err:
        where = str(err).split(";")[0]
        raise TrainingInterrupted(f"{where} of {what}; `dsconv train --resume --out {cfg.out}` "
                                  "continues the ensemble (finished members are kept)") from None


def member_finished(run: TrainConfig) -> bool:
    """Whether a resumed member's run is done: its summary says it trained its epochs (or
    patience ended it) and the time limit did not stop it."""
    summary = Path(run.out) / "summary.json"
    if not run.resume or not summary.exists() or not (Path(run.out) / "model.safetensors"
                                                      ).exists():
        return False
    s = json.loads(summary.read_text())
    return not s.get("timed_out") and s["epochs"] == run.with_defaults().epochs


def out_of_time(cfg: TrainConfig, n: int, i: int) -> dict:
    """The summary of an ensemble the time limit stopped during (or before) member i."""
    return {"ensemble": n, "out": cfg.out, "timed_out": True, "members_done": i,
            "stopped_early": f"stopped at the time limit of {cfg.time_limit:g} min, in member "
                             f"{i + 1} of {n}; --resume continues the ensemble"}


def finish(cfg: TrainConfig, paths: list[Path], wall_s: float) -> dict:
    """<out>/model.safetensors of the members, their figures and the ensemble's side by side
    (summary.json, members.csv); returns the summary."""
    out = Path(cfg.out)
    summary = {"ensemble": len(paths), "out": str(out), "wall_s": wall_s, "timed_out": False,
               "stopped_early": None}
    if env_rank() != 0:
        return summary
    ens, meta = combine_model_files(paths, out / "model.safetensors", {
        "created_by": "dsconv train", "seed": cfg.seed, "epochs": cfg.with_defaults().epochs})
    summary.update(model=meta.model, **score_members(ens, meta, cfg))
    for row, i in zip(summary["members"], range(len(paths))):
        row.update(seed=cfg.seed + i, out=str(paths[i].parent))
    write_members_csv(out / "members.csv", summary)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    return summary


def score_members(ens: Ensemble, meta: ModelMeta, cfg: TrainConfig) -> dict:
    """Top-1 and loss of each member and of the ensemble on the data's validation (or test)
    split, the one `dsconv evaluate` measures the file on: {members, top1, loss, split, n}."""
    classes = meta.classes or [str(i) for i in range(meta.config["num_classes"])]
    data = labelled_split(meta.preprocess, classes, cfg.data, meta.provenance)
    device = resolve_device(cfg.device)
    workers = cfg.workers if hasattr(data, "samples") else 0  # image files to decode
    ens.to(device)
    rows = [run_eval(net, data, len(classes), workers=workers, device=device)
            for net in (*ens.members, ens)]
    ens.cpu()
    pick = [{"member": i, "top1": r["top1"], "loss": r["loss"]} for i, r in enumerate(rows)]
    return {"members": pick[:-1], "top1": rows[-1]["top1"], "loss": rows[-1]["loss"],
            "split": getattr(data, "split_name", str(cfg.data)), "n": rows[-1]["n"],
            "unit": modality_named(meta.preprocess.kind).unit}


def write_members_csv(path: Path, summary: dict) -> None:
    """members.csv: one row per member (member, seed, top1, loss), then the ensemble's."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["member", "seed", "top1", "loss"])
    for r in summary["members"]:
        w.writerow([r["member"], r["seed"], f"{r['top1']:.6f}", f"{r['loss']:.6f}"])
    w.writerow(["ensemble", "", f"{summary['top1']:.6f}", f"{summary['loss']:.6f}"])
    atomic_write_text(path, buf.getvalue())


def _say(cfg: TrainConfig):
    """print on rank 0 with progress on; else nothing."""
    return print if env_rank() == 0 and cfg.progress else (lambda *a, **k: None)
