"""Training configuration: the `Recipe` (optimisation) and `TrainConfig` (the whole run).

Each field's help text lives with it (`opt(default, help)`): the CLI generates its flags from
these dataclasses, so the API and the command line cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..data import Modality, modality_of


def opt(default: Any, help: str, choices: tuple | None = None, flag: bool = True) -> Any:
    """A dataclass field with CLI metadata: help text, allowed values, whether it is a flag."""
    meta = {"help": help, "choices": choices, "flag": flag}
    if isinstance(default, dict | list):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Recipe:
    """How to optimise. Two named recipes below; every field can be overridden."""

    optimizer: str = opt("adamw", "optimizer", ("adamw", "sgd"))
    lr: float = opt(3e-3, "peak learning rate (of the classifier when fine-tuning)")
    momentum: float = opt(0.9, "SGD momentum")
    beta2: float = opt(0.999, "AdamW's second-moment decay (translation: 0.98, as Vaswani et al.)")
    weight_decay: float = opt(0.05, "weight decay (not on BN parameters and biases)")
    schedule: str = opt("cosine", "learning-rate schedule after warm-up: cosine to 0, step "
                                  "decay, or rsqrt (the inverse square root of the step, as "
                                  "the Transformer and tensor2tensor)", ("cosine", "step", "rsqrt"))
    decay: float = opt(0.0, "step schedule: lr *= decay every decay_epochs")
    decay_epochs: float = opt(0.0, "step schedule: epochs between decays")
    warmup_epochs: float = opt(1.0, "linear warm-up (capped at a fifth of the run)")
    drop_rate: float = opt(0.0, "dropout before the classifier")
    label_smoothing: float = opt(0.1, "label smoothing of the cross-entropy")
    ema_decay: float = opt(0.0, "Polyak / EMA weights for evaluation, ramped as TensorFlow's "
                                "ExponentialMovingAverage: min(decay, (1+n)/(10+n)); 0 = off")
    min_steps: int = opt(0, "when --epochs is not given: train at least this many steps, adding "
                            "epochs on small training sets (0: off)")
    batch_fraction: float = opt(0.0, "when --batch-size is not given: batches of at most this "
                                     "fraction of the training set, and at least 4 (0: off)")
    validations: int = opt(0, "validate (and checkpoint, and log a row) this many times, spread "
                              "evenly over the run and always after the last epoch (0: after "
                              "every epoch)")


SERIES_MIN_STEPS = 1000  # ArrowHead measured: see benchmarks/RESULTS.md (issue 20)

RECIPES: dict[str, Recipe] = {
    # A modern default that trains small models fast: AdamW, warm-up + cosine, smoothing.
    "default": Recipe(),
    # Series (the default for 1-D models): small data sets, many short epochs; tsai's usual
    # AdamW 1e-3 with no smoothing, which InceptionTime's own Adam 1e-3 setup is close to.
    # 100 epochs of a 36-series set in batches of 16 are 200 steps (InceptionTime's recipe
    # gives it ~18,000): InceptionTime's batches of a tenth of the set (at least 4) make them
    # 900 at the same compute, at least SERIES_MIN_STEPS; and 20 validations a run, not one
    # after each tiny epoch.
    "series": Recipe(lr=1e-3, weight_decay=0.01, warmup_epochs=0.0, label_smoothing=0.0,
                     min_steps=SERIES_MIN_STEPS, batch_fraction=0.1, validations=20),
    # The Xception paper's ImageNet recipe (section 4.3).
    "paper": Recipe(optimizer="sgd", lr=0.045, momentum=0.9, weight_decay=1e-5,
                    schedule="step", decay=0.94, decay_epochs=2.0, warmup_epochs=0.0,
                    drop_rate=0.5, label_smoothing=0.0, ema_decay=0.9999),
    # Translation (the default for text): the Transformer's Adam (0.9, 0.98) with warm-up then
    # the inverse square root of the step, label smoothing 0.1 (tensor2tensor's slicenet_1
    # too); a short warm-up, as a 30-minute CPU budget is about 2,000 steps.
    "translate": Recipe(lr=1e-3, beta2=0.98, weight_decay=0.0, schedule="rsqrt",
                        warmup_epochs=1.0, label_smoothing=0.1),
}
RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(Recipe))


def _finite(lo: float, hi: float = math.inf, lo_open: bool = False, hi_open: bool = True):
    """A check that a number is finite and in [lo, hi) (or (lo, ...) when lo_open)."""
    def ok(v: float) -> bool:
        return math.isfinite(v) and (v > lo if lo_open else v >= lo) and \
            (v < hi if hi_open else v <= hi)
    return ok


_PY_TYPES = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
             "dict": (dict,)}


def _check_type(name: str, annotation: str, value: Any) -> None:
    """A ValueError naming the setting when `value` is not of its annotated type (API and
    spec-file users pass values the CLI's parser would have refused)."""
    optional = annotation.endswith("| None")
    kind = annotation.replace("| None", "").strip()
    if value is None and optional or kind not in _PY_TYPES:
        return
    if isinstance(value, bool) and kind != "bool" or not isinstance(value, _PY_TYPES[kind]):
        raise ValueError(f"{name}={value!r}: expected {'an' if kind == 'int' else 'a'} {kind}"
                         + (" or None" if optional else ""))


# (field, check, what it takes): TrainConfig refuses values these reject, naming the flag.
_CHECKS = [
    ("epochs", _finite(1), "must be >= 1"),
    ("time_limit", _finite(0, lo_open=True), "must be a number of minutes > 0, e.g. 30"),
    ("batch_size", _finite(1), "must be >= 1"),
    ("accum_steps", _finite(1), "must be >= 1"),
    ("img_size", _finite(1), "must be a positive size in pixels, e.g. 32"),
    ("vocab_size", _finite(16), "must be at least 16 pieces, e.g. 8000"),
    ("max_len", _finite(2), "must be at least 2 tokens, e.g. 128"),
    ("val_split", _finite(0, 1), "must be in [0, 1)"),
    ("freeze_epochs", _finite(0), "must be >= 0"),
    ("lr", _finite(0, lo_open=True), "must be a finite number > 0, e.g. 1e-3"),
    ("momentum", _finite(0, 1), "must be in [0, 1)"),
    ("beta2", _finite(0, 1), "must be in [0, 1)"),
    ("weight_decay", _finite(0), "must be a finite number >= 0"),
    ("decay", _finite(0, 1, lo_open=True, hi_open=False), "must be in (0, 1]"),
    ("decay_epochs", _finite(0), "must be >= 0"),
    ("warmup_epochs", _finite(0), "must be >= 0"),
    ("drop_rate", _finite(0, 1), "must be in [0, 1)"),
    ("label_smoothing", _finite(0, 1), "must be in [0, 1)"),
    ("ema_decay", _finite(0, 1), "must be in [0, 1)"),
    ("min_steps", _finite(0), "must be >= 0 (0: off)"),
    ("batch_fraction", _finite(0, 1, hi_open=False), "must be in [0, 1] (0: off)"),
    ("validations", _finite(0), "must be >= 0 (0: after every epoch)"),
    ("base_lr_scale", _finite(0), "must be a finite number >= 0"),
    ("bn_momentum", _finite(0, 1, hi_open=False), "must be in [0, 1]"),
    ("precise_bn", _finite(0), "must be >= 0 (0: off)"),
    ("grad_clip", _finite(0, lo_open=True), "must be a finite number > 0"),
    ("workers", _finite(0), "must be >= 0"),
    ("ckpt_every", _finite(0), "must be >= 0 (0: each epoch only)"),
    ("keep_checkpoints", _finite(1), "must be >= 1"),
    ("ensemble", _finite(1), "must be >= 1 (the number of networks to train)"),
]


@dataclass
class TrainConfig:
    model: str | None = opt(None, "registered model name (default: the --init file's model, "
                                  "else xception_mini, xceptiontime for series, "
                                  "slicenet_small for text)")
    data: str | None = opt(None, "ImageFolder root (DIR/train + DIR/val, or DIR/<class>), or "
                                 "series: aeon:NAME, a .npz (X, y), NAME_TRAIN.ts, or text "
                                 "to translate: PREFIX.SRC-TGT (PREFIX.SRC + PREFIX.TGT, one "
                                 "sentence a line) or a .tsv; default: the bundled digits")
    out: str | None = opt(None, "output folder: model.safetensors, metrics, checkpoints "
                                "(default: runs/<data's name>, e.g. runs/digits, "
                                "runs/BasicMotions)")
    epochs: int | None = opt(None, "epochs in all, counting a resumed run's (default: 15 for "
                                   "images, 100 for series, 12 for text)")
    time_limit: float | None = opt(None, "stop after this many minutes of training (this "
                                         "invocation's), at the end of the step that passes "
                                         "it; the run is validated and saved as at an epoch's "
                                         "end, and --resume continues it")
    batch_size: int | None = opt(None, "global batch, all processes and accumulation steps "
                                       "(default: 64 for images, 16 for series; for text, in "
                                       "tokens: 4000)")
    accum_steps: int = opt(1, "micro-batches per step per process")
    recipe: str | None = opt(None, "named recipe (default: 'series' for series data, "
                                   "'translate' for text, else 'default'); the options below "
                                   "override its fields", ("default", "paper", "series",
                                                           "translate"))
    # Recipe overrides (None: the recipe's value).
    optimizer: str | None = opt(None, "optimizer (recipe default)", ("adamw", "sgd"))
    lr: float | None = opt(None, "peak learning rate (recipe default: 3e-3 / paper 0.045)")
    momentum: float | None = opt(None, "SGD momentum (recipe default 0.9)")
    beta2: float | None = opt(None, "AdamW's beta2 (recipe default 0.999 / translate 0.98)")
    weight_decay: float | None = opt(None, "weight decay (recipe default)")
    schedule: str | None = opt(None, "lr schedule (recipe default)", ("cosine", "step", "rsqrt"))
    decay: float | None = opt(None, "step schedule factor (paper: 0.94)")
    decay_epochs: float | None = opt(None, "step schedule period in epochs (paper: 2)")
    warmup_epochs: float | None = opt(None, "warm-up epochs (recipe default 1 / paper 0)")
    drop_rate: float | None = opt(None, "dropout before the classifier (paper: 0.5)")
    label_smoothing: float | None = opt(None, "label smoothing (recipe default 0.1)")
    ema_decay: float | None = opt(None, "EMA decay of the evaluated weights (paper: 0.9999)")
    min_steps: int | None = opt(None, "without --epochs, train at least this many steps "
                                      "(recipe default 0 / series 1000)")
    batch_fraction: float | None = opt(None, "without --batch-size, batches of at most this "
                                             "fraction of the training set, at least 4 (recipe "
                                             "default 0 / series 0.1)")
    validations: int | None = opt(None, "validations (with checkpoints) spread over the run, "
                                        "the last epoch always (recipe default 0: every "
                                        "epoch / series 20)")
    # Fine-tuning.
    init: str | None = opt(None, "start from these weights (dsconv, Keras .h5/.keras): tensors "
                                 "matching by name and shape load, a new classifier is made")
    freeze_epochs: int = opt(0, "epochs to train only the classifier, the base frozen with BN "
                                "in inference mode")
    base_lr_scale: float = opt(0.01, "after unfreezing, the base's lr = this x the head's")
    freeze_bn: bool = opt(False, "keep BN in inference mode after unfreezing too (Keras guide)")
    # Model.
    model_args: dict = opt({}, "model config overrides KEY=VALUE (see `dsconv summary`)",
                           flag=False)
    bn_momentum: float | None = opt(None, "override the model's BN momentum (PyTorch's)")
    precise_bn: int = opt(512, "re-estimate BN statistics on this many training samples "
                               "before each evaluation and the save (0: off)")
    # Data.
    img_size: int | None = opt(None, "input size (default: 16 for digits, else the model's)")
    normalize: str = opt("tf", "input scaling", ("tf", "imagenet"))
    vocab_size: int = opt(8000, "text: subword pieces of the tokenizer trained on the training "
                                "pairs (sentencepiece BPE, both languages)")
    max_len: int = opt(128, "text: most tokens a sentence may have (EOS included); longer "
                            "training pairs are left out, with a warning")
    augment: bool = opt(True, "random resized crop + flip in training (image folders)")
    hflip: bool = opt(True, "random horizontal flip when augmenting")
    val_split: float = opt(0.1, "held-out fraction for folders without val/ (0 <= f < 1)")
    workers: int = opt(2, "DataLoader worker processes (image folders)")
    # Speed.
    amp: str = opt("auto", "mixed precision: auto = bf16 on CUDA GPUs that have it and on CPUs "
                           "with native bf16 where one step measures faster, else fp32",
                   ("auto", "none", "bf16", "fp16"))
    channels_last: bool = opt(True, "channels-last memory format (faster convs)")
    compile: bool = opt(False, "torch.compile the model (CPU training measured 0.9x)")
    grad_clip: float | None = opt(None, "max gradient norm")
    device: str = opt("auto", "auto | cpu | cuda | cuda:N")
    # Run.
    seed: int = opt(0, "seed of init, data order, augmentation and dropout")
    split_seed: int | None = opt(None, "seed of the held-out validation split (and of the "
                                       "digits' test split); default: --seed")
    ensemble: int | None = opt(None, "train N networks one after another (seeds seed ... "
                                     "seed+N-1, in <out>/member-i) and write one model file "
                                     "that averages their probabilities (default: 1, or the "
                                     "--model's or --init file's number)")
    ckpt_every: int = opt(0, "also checkpoint every N steps (0: each epoch only)")
    keep_checkpoints: int = opt(2, "checkpoints kept")
    save_best: str | None = opt(None, "keep the epoch with the best value of this validation "
                                      "metric in <out>/best.safetensors (default: off)",
                                ("val_top1", "val_loss", "val_bleu"))
    patience: int = opt(0, "stop after N epochs without improvement of the --save-best metric "
                           "(val_top1 when not given; 0: off)")
    resume: bool = opt(False, "continue the run in --out from its last checkpoint")
    overwrite: bool = opt(False, "start over in an --out that holds a run")
    tensorboard: bool = opt(False, "log to <out>/tensorboard (needs tensorboard)")
    progress: bool = opt(True, "progress bar and a line per epoch")

    def __post_init__(self) -> None:
        """Refuse impossible settings before any work, naming the flag and what it takes."""
        for f in dataclasses.fields(self):
            _check_type(f.name, str(f.type), getattr(self, f.name))
        if self.out is None:  # one folder per data set: a second data set is not refused
            self.out = f"runs/{modality_of(self.data).run_name(self.data)}"
        for name, ok, need in _CHECKS:
            value = getattr(self, name)
            if value is not None and not ok(value):
                raise ValueError(f"--{name.replace('_', '-')} {value!r}: {need}")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise ValueError(f"--recipe {self.recipe!r}: expected one of {sorted(RECIPES)}")
        if (self.ensemble or 1) > 1 and not modality_of(self.data).classifies:
            raise ValueError(f"--ensemble {self.ensemble}: translation models are not "
                             "classifiers; an ensemble averages the class probabilities of "
                             "image and series models")

    def with_defaults(self, modality: Modality | None = None) -> TrainConfig:
        """This config with its data's defaults (epochs, batch, recipe) filled in; modality:
        the data's (found from `data` when not given)."""
        modality = modality or modality_of(self.data)
        return dataclasses.replace(
            self, epochs=self.epochs or modality.epochs,
            batch_size=self.batch_size or modality.batch_size,
            recipe=self.recipe or modality.recipe)

    def resolved(self) -> Recipe:
        """The named recipe with this config's explicit overrides applied."""
        base = RECIPES[self.recipe or "default"]
        return dataclasses.replace(base, **{k: getattr(self, k) for k in RECIPE_FIELDS
                                            if getattr(self, k) is not None})
