"""A run's setup, step by step: the run folder (fresh or resumed), data, model, optimizer.

`setup(cfg)` returns the fields of a `trainer.Run`.
"""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from pathlib import Path

import torch
from torch import nn

from ..data import (
    SYNTHETIC_SIZE,
    DataConfig,
    digits,
    image_folders,
    is_series_spec,
    is_synthetic_spec,
    load_series,
    load_synthetic,
)
from ..models import create_model, model_info
from ..weights import file_model, image_preprocess, init_from
from .checkpoint import latest_checkpoint, load_checkpoint_weights, read_state
from .config import TrainConfig
from .distributed import setup_distributed
from .ema import EMA
from .optim import make_optimizer
from .precision import Precision, choose_precision, step_timer
from .reporting import tensorboard_writer

# Settings a resumed run may change (what the run is stays: model, data, batch, seed, recipe).
RESUME_MAY_CHANGE = ("epochs", "resume", "workers", "progress", "device", "overwrite",
                     "lr", "grad_clip", "ckpt_every", "keep_checkpoints", "tensorboard")


def setup(cfg: TrainConfig) -> dict:
    """Everything a Run holds, from the config (and the checkpoint, when resuming)."""
    rank, world, device = setup_distributed(cfg.device)
    resume_from, state, cfg = prepare_out(cfg, rank)
    series = is_series_spec(cfg.data)
    cfg = cfg.with_defaults(series)
    recipe = cfg.resolved()
    name, init_config = resolve_model_name(cfg, series)
    if series:
        with warnings.catch_warnings():  # the default --val-split meets a published split
            warnings.filterwarnings("ignore", "val_split is ignored")
            train_set, val_set, prep = load_series(cfg.data, cfg.val_split, cfg.seed)
        in_chans = prep.channels
        preprocess = {"kind": "series", "input_size": [prep.length], "in_chans": in_chans,
                      **prep.to_dict()}
    else:
        size = image_size(cfg, name)
        check_model(cfg, name, init_config)
        in_chans = cfg.model_args.get("in_chans", init_config.get("in_chans", 3)
                                      if cfg.data else 1)
        train_set, val_set = build_data(cfg, in_chans, size)
        preprocess = image_preprocess(size, in_chans, cfg.normalize)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run
    model, provenance = build_model(cfg, name, init_config, len(train_set.classes), in_chans,
                                    recipe.drop_rate, rank)
    cfg, steps_per_epoch = check_batches(cfg, world, len(train_set), rank)
    model.to(device)
    if cfg.channels_last and model.dims == 2:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, recipe, cfg.base_lr_scale if cfg.init else 1.0)
    ema = EMA(model, recipe.ema_decay) if recipe.ema_decay else None
    fields = dict(step=0, history=[], skipped=set())
    if state is not None:
        load_checkpoint_weights(resume_from, model)
        opt.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        fields = dict(step=state["step"], history=state["history"],
                      skipped=set(state["skipped"]))
    precision = pick_precision(cfg, state, model, preprocess, world, device, rank)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    if rank == 0:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        if cfg.overwrite and state is None:  # only now that the new run is known to start
            shutil.rmtree(Path(cfg.out) / "checkpoints", ignore_errors=True)
    return dict(cfg=cfg, recipe=recipe, rank=rank, world=world, device=device, model=model,
                net=net, opt=opt, ema=ema, precision=precision, train_set=train_set,
                val_set=val_set, model_name=name, steps_per_epoch=steps_per_epoch,
                preprocess=preprocess,
                provenance=provenance,
                scaler=torch.amp.GradScaler(enabled=precision.dtype == torch.float16),
                tb=tensorboard_writer(Path(cfg.out)) if cfg.tensorboard and rank == 0 else None,
                **fields)


def pick_precision(cfg: TrainConfig, state: dict | None, model: nn.Module, preprocess: dict,
                   world: int, device: torch.device, rank: int) -> Precision:
    """The run's precision (see train.precision): a resumed run keeps the one it began with;
    'auto' on a CPU with native bf16 times one step of this model (one process only: ranks
    timing apart could disagree). Printed, so the log says what was picked and why."""
    if state is not None and cfg.amp == "auto" and state.get("amp"):
        chosen = choose_precision(state["amp"], device)
        precision = Precision(chosen.dtype, f"as the run began ({state['amp']})")
    else:
        shape = (preprocess["in_chans"], *preprocess["input_size"])
        timer = (step_timer(model, shape, cfg.batch_size // cfg.accum_steps, device,
                            cfg.channels_last) if world == 1 else None)
        precision = choose_precision(cfg.amp, device, timer)
    if rank == 0 and cfg.progress:
        print(f"precision: {precision.name} ({precision.reason})")
    return precision


def prepare_out(cfg: TrainConfig, rank: int):
    """(checkpoint to resume or None, its state or None, the config to run with).

    A folder holding a run is never overwritten silently: --resume continues it, --overwrite
    starts over. A resumed run keeps its own settings; changed ones are named, not ignored.
    """
    out = Path(cfg.out)
    say = print if rank == 0 and cfg.progress else (lambda *a, **k: None)
    last = latest_checkpoint(out)
    if not cfg.resume:
        if (last is not None or (out / "model.safetensors").exists()) and not cfg.overwrite:
            raise ValueError(f"{out} already holds a run: --resume continues it, --overwrite "
                             "starts over, or choose another --out")
        return None, None, cfg
    if last is None:
        say(f"--resume: no checkpoint in {out}, starting from scratch")
        return None, None, cfg
    state = read_state(last)
    saved = upgrade_config(state["config"])
    differ = [k for k in saved if hasattr(cfg, k) and getattr(cfg, k) != saved[k]
              and getattr(cfg, k) not in (None, TrainConfig.__dataclass_fields__[k].default)]
    flags = {k: f"--{k.replace('_', '-')} {getattr(cfg, k)!r} (the run has {saved[k]!r})"
             for k in differ}
    refused = [flags[k] for k in differ if k not in RESUME_MAY_CHANGE]
    if refused:
        raise ValueError("a resumed run keeps what it is; these differ: " + "; ".join(refused)
                         + ". Drop them, or start a new run in another --out")
    for k in differ:
        if k not in ("resume", "progress", "workers"):
            say(f"resuming with {flags[k]}")
    # How long to run and where are always this invocation's; the rest only when changed.
    keep = [k for k in RESUME_MAY_CHANGE[:6] if getattr(cfg, k) is not None] + [
        k for k in differ if k not in RESUME_MAY_CHANGE[:6]]
    run_cfg = TrainConfig(**{**saved, **{k: getattr(cfg, k) for k in keep}})
    done = state["step"]
    epochs_done = len(state["history"])
    if epochs_done > run_cfg.epochs:
        raise ValueError(f"{last} is at epoch {epochs_done}, beyond --epochs {run_cfg.epochs}: "
                         "nothing to do (raise --epochs to train further)")
    say(f"resuming {out} from {last.name} (step {done}, epoch {epochs_done})")
    return last, state, run_cfg


def upgrade_config(saved: dict) -> dict:
    """A checkpoint's config as this version's TrainConfig fields (0.1 said model_kwargs)."""
    saved = dict(saved)
    if "model_kwargs" in saved:
        saved["model_args"] = saved.pop("model_kwargs")
    known = set(TrainConfig.__dataclass_fields__)
    return {k: v for k, v in saved.items() if k in known}


def resolve_model_name(cfg: TrainConfig, series: bool = False) -> tuple[str, dict]:
    """(model name, config from the --init file): --model wins, else the file's, else
    xception_mini for images and xceptiontime for series."""
    if cfg.init is None:
        name = cfg.model or ("xceptiontime" if series else "xception_mini")
        if model_info(name).dims != (1 if series else 2):
            kind = "series" if series else "image"
            raise ValueError(f"--model {name} takes {model_info(name).dims}-D inputs, but "
                             f"--data {cfg.data or '(digits)'} is {kind} data")
        return name, {}
    name, config = file_model(cfg.init)
    if cfg.model is not None and cfg.model != name:
        if model_info(cfg.model).builder is not model_info(name).builder:
            raise ValueError(f"--init {cfg.init} holds {name}, not {cfg.model}: drop --model")
        name = cfg.model
    # The classifier is rebuilt for this data; the base keeps the file's architecture.
    keep = {k: v for k, v in config.items()
            if k not in ("num_classes", "include_top", "global_pool", "drop_rate")}
    return name, keep


def image_size(cfg: TrainConfig, name: str) -> int:
    """The training image size: --img-size, else 16 for the digits, the shapes' own size, or
    the model's default input."""
    if cfg.img_size:
        return cfg.img_size
    if cfg.data is None:
        return 16
    return SYNTHETIC_SIZE if is_synthetic_spec(cfg.data) else model_info(name).input_size[0]


def check_model(cfg: TrainConfig, name: str | None = None, init_config: dict | None = None
                ) -> None:
    """Refuse, before any data is read, a model that cannot be built as asked (unknown name or
    option) or an image size below the model's minimum. name, init_config: as
    `resolve_model_name` gives them (resolved here when not given)."""
    series = is_series_spec(cfg.data)
    if name is None:
        name, init_config = resolve_model_name(cfg, series)
    with torch.device("meta"):  # only the config matters: no memory, no init
        low = create_model(name, **{**init_config, **cfg.model_args}).cfg.min_input_size
    size = None if series else image_size(cfg, name)
    if size is None or size >= low:
        return
    given = (f"--img-size {size}" if cfg.img_size else
             f"the default size for {cfg.data or 'the digits'} ({size} px)")
    raise ValueError(f"{given} is below {name}'s minimum input of {low}x{low}: use "
                     f"--img-size >= {low}" + ("" if cfg.img_size else
                                               " (the images are upsampled)"))


def build_data(cfg: TrainConfig, in_chans: int, img_size: int):
    """(train set, validation set or None); both carry `.classes`."""
    if cfg.data is None:
        return digits(img_size, cfg.seed)
    if is_synthetic_spec(cfg.data):
        return load_synthetic(cfg.data, img_size)
    dcfg = DataConfig(img_size=img_size, normalize=cfg.normalize, augment=cfg.augment,
                      hflip=cfg.hflip, val_split=cfg.val_split, seed=cfg.seed)
    return image_folders(cfg.data, dcfg, in_chans)


def build_model(cfg: TrainConfig, name: str, init_config: dict, num_classes: int,
                in_chans: int, drop_rate: float, rank: int) -> tuple[nn.Module, dict]:
    """The model (seeded init, then --init weights where they fit) and its provenance."""
    kwargs = {**init_config, "num_classes": num_classes, "in_chans": in_chans, **cfg.model_args}
    if drop_rate:
        kwargs["drop_rate"] = drop_rate
    if cfg.bn_momentum is not None:
        kwargs["bn_momentum"] = cfg.bn_momentum
    model = create_model(name, **kwargs)
    provenance: dict = {}
    if cfg.init is not None:
        report = init_from(model, cfg.init)
        provenance = {"init": str(cfg.init), "init_loaded": report["loaded"],
                      "init_reinitialised": len(report["reinitialised"])}
        if rank == 0 and cfg.progress:
            fresh = report["reinitialised"]
            print(f"--init {cfg.init}: loaded {report['loaded']} tensors; new: "
                  f"{', '.join(fresh[:4]) + (' ...' if len(fresh) > 4 else '') or 'none'}; "
                  f"unused from the file: {len(report['unused'])}")
    return model, provenance


def check_batches(cfg: TrainConfig, world: int, n_train: int, rank: int = 0
                  ) -> tuple[TrainConfig, int]:
    """(config, steps per epoch), after checking the batch splits evenly over processes and
    steps. A batch larger than the whole training set is lowered to it, and said so."""
    if cfg.batch_size > n_train:
        unit = world * cfg.accum_steps
        smaller = n_train // unit * unit
        if smaller and rank == 0 and cfg.progress:
            print(f"batch size lowered to {smaller}: the training set has {n_train} samples")
        cfg = dataclasses.replace(cfg, batch_size=smaller or cfg.batch_size)
    per_rank = cfg.batch_size // world
    micro = per_rank // cfg.accum_steps
    if micro * cfg.accum_steps * world != cfg.batch_size or micro == 0:
        raise ValueError(f"batch_size={cfg.batch_size} must be a multiple of processes "
                         f"({world}) x accum_steps ({cfg.accum_steps})")
    if n_train // cfg.batch_size == 0:
        raise ValueError(f"{n_train} training samples is fewer than one batch "
                         f"({cfg.batch_size}); lower --batch-size")
    return cfg, n_train // cfg.batch_size
