"""Run an experiment: every variant x seed through the public training API, resumably.

Each run lives in DIR/runs/<variant>/seed<k>/ (the training run folder, with its checkpoints
and metrics.csv) and ends by writing result.json there. A run with a result.json is finished
and skipped; a run with checkpoints but no result resumes from its last one; so an interrupted
experiment picks up where it stopped. results.csv is rebuilt from the result.json files after
every run, so parallel jobs (`jobs > 1`, separate processes) never write the same file.

A run folder records what it computes (run.json, then result.json's `run`: its TrainConfig less
where and how it is watched). A folder made with other settings (a --quick run, another
--epochs or --data) is never reused or resumed for this spec: `plan` refuses before anything
trains, so results of different settings are never mixed.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

from ..cost import profile
from ..models.seq2seq import UNK, Seq2Seq
from ..train import TrainConfig, train
from ..train.checkpoint import latest_checkpoint, read_state
from ..train.ensemble import ensemble_plan
from ..train.setup import check_model, upgrade_config
from ..utils import atomic_write_text, folder_lock, median_time
from ..weights import load_model
from .cost_claim import cost_rows
from .spec import Spec

RESULT_COLUMNS = ["variant", "seed", "model", "config", "params", "macs", "train_s", "infer_ms",
                  "final_acc", "best_acc", "epochs_to_target", "epochs", "final_bleu",
                  "best_bleu"]


def run_dir(out: Path, variant: str, seed: int) -> Path:
    return out / "runs" / variant / f"seed{seed}"


def train_config(spec: Spec, variant: dict[str, Any], seed: int, out: Path) -> TrainConfig:
    """The TrainConfig of one run: the spec's base, the variant's overrides, the seed."""
    fields = {**spec.base, **{k: v for k, v in variant.items() if k != "name"}}
    fields["model_args"] = {**spec.base.get("model_args", {}), **variant.get("model_args", {})}
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(fields) - known)
    where = f"{spec.path or spec.name}: variant {variant['name']!r}"
    if unknown:
        raise ValueError(f"{where} sets {unknown}, which are not training settings (see "
                         "`dsconv train --help`)")
    d = run_dir(out, variant["name"], seed)
    resume = latest_checkpoint(d) is not None
    try:
        cfg = TrainConfig(**fields, seed=seed, out=str(d), resume=resume,
                          overwrite=not resume, progress=False, workers=0)
        n = ensemble_plan(cfg)[1]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from None
    if n > 1:  # its runs are scored per epoch, one network each
        raise ValueError(f"{where} trains an ensemble of {n}: an experiment compares single "
                         "networks over its seeds; train ensembles with `dsconv train "
                         "--ensemble N`")
    return cfg


# Settings that say where and how a run is watched, not what it computes.
_NOT_IDENTITY = ("out", "resume", "overwrite", "progress", "workers", "tensorboard")


def run_identity(cfg: TrainConfig) -> dict:
    """What a run computes: its TrainConfig without the fields that only place or watch it.
    Two runs with equal identities produce the same result, so one may stand for the other."""
    full = cfg.with_defaults()  # None and the default it means agree
    ident = {k: v for k, v in dataclasses.asdict(full).items() if k not in _NOT_IDENTITY}
    return json.loads(json.dumps(ident))  # as result.json holds it (tuples become lists)


def _stored_identity(d: Path) -> dict | None:
    """The identity a run folder was made with: its result.json or run.json, else (folders of
    older versions) its checkpoint's config."""
    if (d / "result.json").exists():
        row = json.loads((d / "result.json").read_text())
        if "run" in row:
            return row["run"]
    if (d / "run.json").exists():
        return json.loads((d / "run.json").read_text())
    last = latest_checkpoint(d)
    if last is None:
        return None
    return run_identity(TrainConfig(**upgrade_config(read_state(last)["config"])))


def plan(spec: Spec, out: Path) -> list[TrainConfig]:
    """Every run's TrainConfig, checked before any of them starts: settings, model and
    model_args (built on the meta device), and that a run already in `out` was made with
    exactly the same settings (else it would be reused or resumed for another experiment)."""
    cfgs, stale = [], []
    for v in spec.variants:
        for seed in range(spec.seeds):
            cfg = train_config(spec, v, seed, out)
            try:
                if seed == 0:  # the seed does not change the model: one check per variant
                    check_model(cfg)
            except ValueError as err:
                raise ValueError(f"{spec.path or spec.name}: variant {v['name']!r}: {err}"
                                 ) from None
            d = run_dir(out, v["name"], seed)
            if (d / "result.json").exists() or cfg.resume:
                had = _stored_identity(d)
                want = run_identity(cfg)
                if had != want:
                    diff = sorted(k for k in want if had is None or had.get(k) != want[k])
                    stale.append((d, diff, had, want))
            cfgs.append(cfg)
    if stale:
        d, diff, had, want = stale[0]
        what = ("settings this version cannot read" if had is None else ", ".join(
            f"{k}={had.get(k)!r} (now {want[k]!r})" for k in diff))
        raise ValueError(f"{out} holds {len(stale)} run(s) made with other settings (e.g. {d}: "
                         f"{what}); results of different settings are never mixed: choose "
                         "another --out, or remove that folder")
    return cfgs
def _epochs_to(history: list[dict], target: float) -> int | None:
    """The first epoch (1-based) whose validation accuracy reaches `target`, else None."""
    for i, row in enumerate(history, 1):
        if row.get("val_top1", 0.0) >= target:
            return i
    return None


def read_history(d: Path) -> list[dict]:
    """A run folder's metrics.csv: one dict per epoch, numbers as floats (blank: None)."""
    with open(d / "metrics.csv") as fh:
        return [{k: float(v) if v not in ("", None) else None for k, v in row.items()}
                for row in csv.DictReader(fh)]


def _infer_ms(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """Median ms of one inference batch of 32 at the run's input shape (a translator: 32
    sentence pairs of 32 tokens a side, teacher-forced)."""
    model.eval()
    if isinstance(model, Seq2Seq):
        ids = torch.full((32, 32), UNK)
        inputs: tuple[torch.Tensor, ...] = (ids, ids)
    else:
        inputs = (torch.randn(32, *shape),)
    with torch.inference_mode():
        return 1e3 * median_time(lambda: model(*inputs), 5, warmup=1)


def run_one(spec: Spec, variant: dict[str, Any], seed: int, out: Path) -> dict:
    """Train one variant at one seed (or read its finished result); returns its result row."""
    d = run_dir(out, variant["name"], seed)
    if (d / "result.json").exists():
        return json.loads((d / "result.json").read_text())
    cfg = train_config(spec, variant, seed, out)
    d.mkdir(parents=True, exist_ok=True)  # what this run is, before it writes anything else
    atomic_write_text(d / "run.json", json.dumps(run_identity(cfg), indent=1))
    t0 = time.perf_counter()
    summary = train(cfg)
    wall = time.perf_counter() - t0
    history = read_history(d)
    model, meta = load_model(d / "model.safetensors")  # the file the run wrote: what users get
    shape = meta.preprocess.shape
    p = profile(model, shape[1:], in_chans=shape[0])
    accs = [r["val_top1"] for r in history if r.get("val_top1") is not None]
    row = {"variant": variant["name"], "seed": seed, "model": summary["model"],
           "config": json.dumps({k: v for k, v in variant.items() if k != "name"},
                                sort_keys=True),
           "params": p.trainable_params, "macs": p.macs, "train_s": round(wall, 2),
           "infer_ms": round(_infer_ms(model, shape), 3), "final_acc": accs[-1],
           "best_acc": max(accs), "epochs_to_target": _epochs_to(history, spec.target),
           "epochs": len(history), "run": run_identity(cfg)}
    bleus = [r["val_bleu"] for r in history if r.get("val_bleu") is not None]
    if bleus:  # a translation model's
        row.update(final_bleu=bleus[-1], best_bleu=max(bleus))
    atomic_write_text(d / "result.json", json.dumps(row, indent=1))
    return row


def _job(args: tuple) -> dict:
    spec, variant, seed, out, threads = args
    torch.set_num_threads(threads)  # jobs share the cores instead of oversubscribing them
    return run_one(spec, variant, seed, out)


def write_results(out: Path, rows: list[dict]) -> Path:
    """results.csv, one row per finished run, in spec order (atomic)."""
    buf = io.StringIO()
    columns = RESULT_COLUMNS if not rows or "best_acc" in rows[0] else list(
        dict.fromkeys(k for r in rows for k in r))  # cost rows carry their own columns
    w = csv.DictWriter(buf, columns, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "results.csv", buf.getvalue())
    return out / "results.csv"


def collect(spec: Spec, out: Path) -> list[dict]:
    """The result rows of the runs of `spec` that have finished, in spec order."""
    rows = []
    for v in spec.variants:
        for seed in range(spec.seeds):
            d = run_dir(out, v["name"], seed)
            if (d / "result.json").exists():
                row = json.loads((d / "result.json").read_text())
                # From the curve, so that the spec's target decides (it may change after a run)
                row["epochs_to_target"] = _epochs_to(read_history(d), spec.target)
                rows.append(row)
    return rows


def run_experiment(spec: Spec, out: str | Path, jobs: int = 1, say=print) -> list[dict]:
    """Run every unfinished variant x seed of `spec` into `out`; returns all result rows.
    Writes out/spec.json (the spec as run) and out/results.csv (after every finished run).

    The folder is locked while this runs, and every run is checked first (`plan`): a bad
    setting or model option, or a finished run made with other settings, stops it before
    anything trains."""
    out = Path(out)
    with folder_lock(out, "an experiment"):
        if spec.kind == "cost":
            rows = cost_rows(spec)
            atomic_write_text(out / "spec.json", json.dumps(dataclasses.asdict(spec), indent=1))
            write_results(out, rows)
            return rows
        plan(spec, out)
        atomic_write_text(out / "spec.json", json.dumps(dataclasses.asdict(spec), indent=1))
        try:
            _run_all(spec, out, jobs, say)
        except KeyboardInterrupt:
            done = len(collect(spec, out))
            raise KeyboardInterrupt(
                f"interrupted with {done} of {len(spec.variants) * spec.seeds} runs finished in "
                f"{out}; the same command continues (finished runs are kept, unfinished ones "
                "resume from their last checkpoint)") from None
        rows = collect(spec, out)
        write_results(out, rows)
        return rows


def _run_all(spec: Spec, out: Path, jobs: int, say) -> None:
    """Train the runs of `spec` that have no result yet, in `jobs` processes."""
    # Seed by seed, every variant: a run stopped part-way still compares all the variants.
    todo = [(v, s) for s in range(spec.seeds) for v in spec.variants
            if not (run_dir(out, v["name"], s) / "result.json").exists()]
    done = len(spec.variants) * spec.seeds - len(todo)
    say(f"{spec.name}: {len(todo)} runs to do, {done} finished before")
    if jobs <= 1:
        for i, (v, s) in enumerate(todo, 1):
            row = run_one(spec, v, s, out)
            say(f"  [{i}/{len(todo)}] {v['name']} seed {s}: best {row['best_acc']:.3f} "
                f"final {row['final_acc']:.3f} ({row['train_s']:.0f} s)")
            write_results(out, collect(spec, out))
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        args = [(spec, v, s, out, threads) for v, s in todo]
        for i, row in enumerate(pool.map(_job, args), 1):
            say(f"  [{i}/{len(todo)}] {row['variant']} seed {row['seed']}: best "
                f"{row['best_acc']:.3f} ({row['train_s']:.0f} s)")
            write_results(out, collect(spec, out))
