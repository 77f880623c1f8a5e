"""A run's setup, step by step: the run folder (fresh or resumed), data, model, optimizer.

`setup(cfg)` returns the `Run` the trainer steps. What kind of data the run is on (images,
series) is the modality's business (`dsconv.data.modality_of`); nothing here asks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import torch
from torch import nn

from ..data import DataSettings, Modality, Preprocess, modality_of, modality_of_model
from ..models import create_model, model_info
from ..models.seq2seq import Seq2Seq
from ..weights import file_model, init_from
from .checkpoint import latest_checkpoint, load_checkpoint_weights, read_state
from .config import Recipe, TrainConfig
from .distributed import setup_distributed
from .ema import EMA
from .optim import make_optimizer
from .precision import Precision, choose_precision, step_timer
from .reporting import tensorboard_writer
from .run import Run

# A resumed run keeps what it is (model, data, batch, seed, recipe), except:
# - these are always this invocation's: how long to run, and where and how it runs;
RESUME_FROM_INVOCATION = ("epochs", "time_limit", "resume", "workers", "progress", "device",
                          "overwrite")
# - these it may change, when given (each change is said).
RESUME_MAY_CHANGE = ("lr", "grad_clip", "ckpt_every", "keep_checkpoints", "tensorboard")
# An ensemble's run folder records its config here (its members are runs in member-i/).
ENSEMBLE_RECORD = "ensemble.json"


def setup(cfg: TrainConfig) -> Run:
    """The Run for `cfg` (and the checkpoint, when resuming): data, model, optimizer, state."""
    rank, world, device = setup_distributed(cfg.device)
    resume_from, state, cfg = prepare_out(cfg, rank)
    modality = modality_of(cfg.data)
    # (a resumed run's epochs and batch are its own: always given)
    epochs_given, batch_given = cfg.epochs is not None, cfg.batch_size is not None
    cfg = cfg.with_defaults(modality)
    recipe = cfg.resolved()
    name, init_config = resolve_model_name(cfg, modality)
    check_model(cfg, name, init_config)
    data = modality.training_data(data_settings(cfg, init_config), name)
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run
    model, provenance = build_model(cfg, name, init_config,
                                    data.preprocess.model_args(data.train.classes),
                                    recipe.drop_rate, rank)
    if not batch_given:
        cfg = small_set_batch(cfg, recipe, data.train, world, rank)
    cfg, steps_per_epoch = check_batches(cfg, world, data.train, rank)
    if not epochs_given:
        cfg = step_budget(cfg, recipe, steps_per_epoch, rank)
    model.to(device)
    if cfg.channels_last and getattr(model, "dims", None) == 2:  # (a translator has none)
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
    precision = pick_precision(cfg, state, model, data.preprocess, world, device, rank)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    if cfg.compile:
        net = torch.compile(net)
    if rank == 0:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        if cfg.overwrite and state is None:  # only now that the new run is known to start
            shutil.rmtree(Path(cfg.out) / "checkpoints", ignore_errors=True)
            # An ensemble's run here before: the folder now holds one network's, and only it.
            for stale in (ENSEMBLE_RECORD, "members.csv"):
                (Path(cfg.out) / stale).unlink(missing_ok=True)
            remove_members(Path(cfg.out), keep=0)
    return Run(cfg=cfg, recipe=recipe, rank=rank, world=world, device=device, model=model,
               net=net, opt=opt, ema=ema, precision=precision, train_set=data.train,
               val_set=data.val, model_name=name, preprocess=data.preprocess,
               val_name=data.val_name, steps_per_epoch=steps_per_epoch, provenance=provenance,
               scaler=torch.amp.GradScaler(enabled=precision.dtype == torch.float16),
               tb=tensorboard_writer(Path(cfg.out)) if cfg.tensorboard and rank == 0 else None,
               **fields)


def data_settings(cfg: TrainConfig, init_config: dict) -> DataSettings:
    """What the run asks of its data, from its config and the --init file's model config."""
    return DataSettings(cfg.data, cfg.img_size, cfg.normalize, cfg.augment, cfg.hflip,
                        cfg.val_split, cfg.seed, cfg.model_args.get("in_chans"),
                        init_config.get("in_chans"), cfg.vocab_size, cfg.max_len,
                        cfg.split_seed)


def pick_precision(cfg: TrainConfig, state: dict | None, model: nn.Module,
                   preprocess: Preprocess,
                   world: int, device: torch.device, rank: int) -> Precision:
    """The run's precision (see train.precision): a resumed run keeps the one it began with;
    'auto' on a CPU with native bf16 times one step of this model (one process only: ranks
    timing apart could disagree). Printed, so the log says what was picked and why."""
    if state is not None and cfg.amp == "auto" and state.get("amp"):
        chosen = choose_precision(state["amp"], device)
        precision = Precision(chosen.dtype, f"as the run began ({state['amp']})")
    else:
        # (A translator's step takes token ids, not a tensor of values: not timed.)
        timer = (step_timer(model, preprocess.shape, cfg.batch_size // cfg.accum_steps, device,
                            cfg.channels_last) if world == 1 and not isinstance(model, Seq2Seq)
                 else None)
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
        if holds_run(out) and not cfg.overwrite:
            raise occupied(out)
        return None, None, cfg
    if last is None:
        say(f"--resume: no checkpoint in {out}, starting from scratch")
        return None, None, cfg
    state = read_state(last)
    run_cfg = resumed_config(cfg, state["config"], say)
    done = state["step"]
    # (the last row's epoch: a run stopped by --time-limit logs a partial epoch, and again the
    # same epoch when it ends after resuming)
    epochs_done = state["history"][-1]["epoch"] if state["history"] else 0
    if epochs_done > run_cfg.epochs:
        raise ValueError(f"{last} is at epoch {epochs_done}, beyond --epochs {run_cfg.epochs}: "
                         "nothing to do (raise --epochs to train further)")
    say(f"resuming {out} from {last.name} (step {done}, epoch {epochs_done})")
    return last, state, run_cfg


def holds_run(out: Path) -> bool:
    """Whether folder `out` holds a training run (one network's or an ensemble's)."""
    return (latest_checkpoint(out) is not None or (out / "model.safetensors").exists()
            or (out / ENSEMBLE_RECORD).exists())


def remove_members(out: Path, keep: int) -> list[Path]:
    """Remove the ensemble member folders <out>/member-k with k >= keep; returns them."""
    gone = []
    for folder in sorted(out.glob("member-*")):
        index = folder.name.removeprefix("member-")
        if folder.is_dir() and index.isdigit() and int(index) >= keep:
            shutil.rmtree(folder)
            gone.append(folder)
    return gone


def occupied(out: Path) -> ValueError:
    """The refusal to start a run in a folder that holds one."""
    return ValueError(f"{out} already holds a run: --resume continues it, --overwrite starts "
                      "over, or choose another --out")


def resumed_config(cfg: TrainConfig, saved: dict, say=print) -> TrainConfig:
    """The config a resumed run continues with: the `saved` one (a checkpoint's), with this
    invocation's `cfg` where it may differ (said); other differences are refused."""
    saved = upgrade_config(saved)
    differ = [k for k in saved if hasattr(cfg, k) and _plain(getattr(cfg, k)) != _plain(saved[k])
              and _given(cfg, k)]
    flags = {k: f"--{k.replace('_', '-')} {getattr(cfg, k)!r} (the run has {saved[k]!r})"
             for k in differ}
    allowed = RESUME_FROM_INVOCATION + RESUME_MAY_CHANGE
    refused = [flags[k] for k in differ if k not in allowed]
    if refused:
        raise ValueError("a resumed run keeps what it is; these differ: " + "; ".join(refused)
                         + ". Drop them, or start a new run in another --out")
    for k in differ:
        if k not in ("resume", "progress", "workers"):
            say(f"resuming with {flags[k]}")
    # How long to run and where are always this invocation's; the rest only when changed.
    keep = [k for k in RESUME_FROM_INVOCATION if getattr(cfg, k) is not None] + [
        k for k in differ if k not in RESUME_FROM_INVOCATION]
    return TrainConfig(**{**saved, **{k: getattr(cfg, k) for k in keep}})


def _plain(value: object) -> object:
    """`value` as JSON has it: a tuple (a checkpoint's) equals the list a JSON record or the
    command line gives."""
    return json.loads(json.dumps(value, default=str))


def _given(cfg: TrainConfig, name: str) -> bool:
    """Whether field `name` was set: neither None nor its default (a dict field's default is
    {}: `--resume --out DIR` alone does not repeat the run's --model-arg values)."""
    f = TrainConfig.__dataclass_fields__[name]
    default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
    return getattr(cfg, name) not in (None, default)


def upgrade_config(saved: dict) -> dict:
    """A checkpoint's config as this version's TrainConfig fields (0.1 said model_kwargs)."""
    saved = dict(saved)
    if "model_kwargs" in saved:
        saved["model_args"] = saved.pop("model_kwargs")
    known = set(TrainConfig.__dataclass_fields__)
    return {k: v for k, v in saved.items() if k in known}


def resolve_model_name(cfg: TrainConfig, modality: Modality | None = None
                       ) -> tuple[str, dict]:
    """(model name, config from the --init file): --model wins, else the file's, else the
    modality's default (xception_mini for images, xceptiontime for series)."""
    modality = modality or modality_of(cfg.data)
    if cfg.init is None:
        name = cfg.model or modality.default_model
        if not modality.accepts(model_info(name)):
            taken = modality_of_model(model_info(name))
            raise ValueError(f"--model {name} takes {taken.name} data, but --data "
                             f"{cfg.data or '(digits)'} is {modality.name} data ("
                             f"{modality.name} models: e.g. {modality.default_model})")
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


def check_model(cfg: TrainConfig, name: str | None = None, init_config: dict | None = None
                ) -> None:
    """Refuse, before any data is read, a model that cannot be built as asked (unknown name or
    option) or an input size below the model's minimum. name, init_config: as
    `resolve_model_name` gives them (resolved here when not given)."""
    modality = modality_of(cfg.data)
    if name is None:
        name, init_config = resolve_model_name(cfg, modality)
    with torch.device("meta"):  # only the config matters: no memory, no init
        low = create_model(name, **{**init_config, **cfg.model_args}).cfg.min_input_size
    size = modality.train_size(data_settings(cfg, init_config), name)
    if size is None or min(size) >= low:
        return
    given = (f"--img-size {min(size)}" if cfg.img_size else
             f"the default size for {cfg.data or 'the digits'} ({min(size)} px)")
    raise ValueError(f"{given} is below {name}'s minimum input of {low}x{low}: use "
                     f"--img-size >= {low}" + ("" if cfg.img_size else
                                               " (the images are upsampled)"))


def build_model(cfg: TrainConfig, name: str, init_config: dict, data_args: dict,
                drop_rate: float, rank: int) -> tuple[nn.Module, dict]:
    """The model (seeded init, then --init weights where they fit) and its provenance.
    data_args: what the data fixes (`Preprocess.model_args`: classes and channels, or a
    translator's vocabulary)."""
    kwargs = {**init_config, **data_args, **cfg.model_args}
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


MIN_RULE_BATCH = 4  # the smallest batch small_set_batch picks: BatchNorm needs a few samples


def small_set_batch(cfg: TrainConfig, recipe: Recipe, train_set, world: int, rank: int = 0
                    ) -> TrainConfig:
    """cfg with the recipe's `batch_fraction` of a small training set as its batch (as
    InceptionTime's min(N / 10, 64)), at least 4 and a multiple of processes x accum_steps;
    unchanged for data batched by its own plan (text counts tokens) or a large set."""
    if not recipe.batch_fraction or hasattr(train_set, "batch_plan"):
        return cfg
    unit = world * cfg.accum_steps
    batch = min(cfg.batch_size, max(MIN_RULE_BATCH, int(len(train_set) * recipe.batch_fraction)))
    batch = max(unit, batch // unit * unit)
    if batch < cfg.batch_size and rank == 0 and cfg.progress:
        print(f"batches of {batch}, not {cfg.batch_size}: {recipe.batch_fraction:g} of the "
              f"{len(train_set)} training samples, the recipe's rule (--batch-size sets it)")
    return dataclasses.replace(cfg, batch_size=min(batch, cfg.batch_size))


def step_budget(cfg: TrainConfig, recipe: Recipe, steps_per_epoch: int, rank: int = 0
                ) -> TrainConfig:
    """cfg with enough epochs for the recipe's `min_steps` (a default epoch count gives a small
    training set few optimiser steps: 100 epochs of 36 series in batches of 16 are 200), and
    said so; unchanged when the default epochs already reach it."""
    epochs = max(cfg.epochs, math.ceil(recipe.min_steps / steps_per_epoch))
    if epochs > cfg.epochs and rank == 0 and cfg.progress:
        print(f"training {epochs} epochs, not {cfg.epochs}: the recipe's minimum of "
              f"{recipe.min_steps} steps at {steps_per_epoch} steps an epoch (--epochs sets it)")
    return dataclasses.replace(cfg, epochs=epochs)


def check_batches(cfg: TrainConfig, world: int, train_set, rank: int = 0
                  ) -> tuple[TrainConfig, int]:
    """(config, steps per epoch), after checking the batch splits evenly over processes and
    steps. A batch larger than the whole training set is lowered to it, and said so. A set
    batched by its own plan (translation pairs: --batch-size counts tokens) gives its number
    of batches; each must hold a sentence for every process and accumulation step."""
    if hasattr(train_set, "batch_plan"):
        plan = train_set.batch_plan(cfg.batch_size)
        parts = world * cfg.accum_steps
        if min(len(b) for b in plan) < parts:
            raise ValueError(f"--batch-size {cfg.batch_size} tokens makes batches of fewer than "
                             f"{parts} sentences (processes x accum_steps): raise --batch-size")
        return cfg, len(plan)
    n_train = len(train_set)
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
