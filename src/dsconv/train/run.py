"""`Run`: the state a training run carries from step to step, and the watched metric (`Best`).

`setup.setup(cfg)` builds a Run; `trainer` steps it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..data import Preprocess
from ..models.seq2seq import Seq2Seq
from .config import Recipe, TrainConfig
from .ema import EMA
from .precision import Precision

# The validation metrics --save-best / --patience can watch: True where higher is better.
WATCHABLE = {"val_top1": True, "val_loss": False, "val_bleu": True}


@dataclass
class Best:
    """The watched validation metric's best epoch so far (--save-best, --patience)."""

    metric: str
    patience: int
    epoch: int = 0                 # 0: no epoch yet
    value: float | None = None

    def update(self, row: dict) -> bool:
        """Take an epoch's row; True when its value beats the best so far (strictly, as Keras)."""
        value = row.get(self.metric)
        if value is None or not math.isfinite(value):
            return False
        if self.value is not None and not (
                value > self.value if WATCHABLE[self.metric] else value < self.value):
            return False
        self.epoch, self.value = row["epoch"], value
        return True

    def stop_message(self, epoch: int) -> str | None:
        """Why training stops after `epoch` (`patience` epochs without improvement), or None."""
        waited = epoch - self.epoch
        if not self.patience or self.value is None or waited < self.patience:
            return None
        return (f"stopped early at epoch {epoch}: {self.metric} has not improved for {waited} "
                f"epoch{'s' * (waited != 1)}; best {self.epoch} ({self.value:.4g}) in "
                "best.safetensors")


def watched_metric(cfg: TrainConfig, has_val: bool) -> Best | None:
    """The tracker that cfg.save_best / cfg.patience ask for (None: neither); what cannot work
    (no validation set, an unknown metric) is refused before any training."""
    if cfg.patience < 0:
        raise ValueError(f"patience={cfg.patience}: must be >= 0 (0: off)")
    if cfg.save_best is None and not cfg.patience:
        return None
    metric = cfg.save_best or "val_top1"
    if metric not in WATCHABLE:
        raise ValueError(f"save_best={metric!r}: expected one of {', '.join(WATCHABLE)}")
    if not has_val:
        asked = f"--save-best {cfg.save_best}" if cfg.save_best else f"--patience {cfg.patience}"
        raise ValueError(f"{asked} watches a validation metric, but this run has no validation "
                         "set: set --val-split above 0 (or give the data a val/ folder)")
    return Best(metric, cfg.patience)


@dataclass
class Run:
    """Everything a training run carries from step to step (`setup.setup` builds it)."""

    cfg: TrainConfig
    recipe: Recipe
    rank: int
    world: int
    device: torch.device
    model: nn.Module                 # the bare model (what is saved)
    net: nn.Module                   # what is called: the model, wrapped by DDP / compile
    opt: torch.optim.Optimizer
    ema: EMA | None
    precision: Precision             # the autocast dtype (None: fp32) and why
    train_set: object
    val_set: object | None
    model_name: str
    preprocess: Preprocess           # the record the model file carries
    val_name: str                    # what validation measures: 'test' or 'validation'
    steps_per_epoch: int
    step: int = 0
    history: list[dict] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)
    provenance: dict = field(default_factory=dict)
    scaler: torch.amp.GradScaler | None = None
    tb: object | None = None
    evaluated: tuple[int, nn.Module] | None = None  # (step, eval_model) of the last call
    best: Best | None = None         # set from cfg in __post_init__
    stopped: str | None = None       # why training stopped early, once it has
    timed_out: bool = False          # --time-limit stopped it: not done, --resume continues
    deadline: float | None = None    # perf_counter() time of --time-limit (None: no limit)

    def __post_init__(self) -> None:
        # Rebuilt from the history: a resumed run makes the uninterrupted run's decisions.
        self.best = watched_metric(self.cfg, self.val_set is not None)
        if self.best is not None and self.val_name == "test" and self.rank == 0 \
                and self.cfg.progress and not self.history:
            print(f"note: {self.best.metric} is measured on the published test split (this data "
                  "has no separate validation split), so the best epoch's score is optimistic")
        if not self.history and self.rank == 0:  # a fresh run: an old best is not its own
            (self.out / "best.safetensors").unlink(missing_ok=True)
        if self.best is not None and self.history:
            for row in self.history:
                self.best.update(row)
            self.stopped = self.best.stop_message(self.history[-1]["epoch"])
            if self.stopped and self.rank == 0 and self.cfg.progress:
                print(self.stopped, flush=True)  # a resumed run that had stopped: no more epochs

    @property
    def out(self) -> Path:
        return Path(self.cfg.out)

    @property
    def workers(self) -> int:
        """Loader processes: for images decoded from disk; in-memory data needs none."""
        return self.cfg.workers if hasattr(self.train_set, "samples") else 0

    @property
    def rate_key(self) -> str:
        """The metrics column of training speed: targets a second (tokens for a translator)."""
        return "tok_per_s" if isinstance(self.model, Seq2Seq) else "img_per_s"

    @property
    def val_every(self) -> int:
        """Epochs between validations: the recipe's `validations` spread over the run (1: after
        every epoch)."""
        n = self.recipe.validations
        return max(1, math.ceil(self.cfg.epochs / n)) if n else 1

    @property
    def total(self) -> int:
        return self.steps_per_epoch * self.cfg.epochs

    def state_dict(self) -> dict:
        """What a checkpoint holds besides the weights (plain values and tensors only)."""
        return {"optimizer": self.opt.state_dict(),
                "ema": self.ema.state_dict() if self.ema else None, "step": self.step,
                "history": self.history, "skipped": sorted(self.skipped),
                "config": asdict(self.cfg), "amp": self.precision.amp}
