"""Training configuration and the two recipes."""

from __future__ import annotations

from dataclasses import dataclass, field

RECIPES: dict[str, dict] = {
    # The Xception paper's ImageNet recipe (section 4.3).
    "paper": dict(optimizer="sgd", lr=0.045, momentum=0.9, weight_decay=1e-5, schedule="step",
                  decay=0.94, decay_epochs=2.0, drop_rate=0.5, label_smoothing=0.0,
                  ema_decay=0.9999, warmup_epochs=0.0),
    # A modern default that trains small models fast: AdamW, warm-up + cosine, smoothing.
    "default": dict(optimizer="adamw", lr=3e-3, momentum=0.9, weight_decay=0.05,
                    schedule="cosine", decay=0.0, decay_epochs=0.0, drop_rate=0.0,
                    label_smoothing=0.1, ema_decay=0.0, warmup_epochs=1.0),
}


@dataclass
class TrainConfig:
    model: str = "xception_mini"     # registered model name
    data: str | None = None          # ImageFolder root; None = bundled digits (scikit-learn)
    out: str = "runs/default"        # output directory (checkpoints, weights, metrics, plots)
    epochs: int = 15
    batch_size: int = 64             # global batch (all processes, all accumulation steps)
    accum_steps: int = 1             # micro-batches per step per process
    recipe: str = "default"          # 'default' | 'paper'; the fields below override it
    optimizer: str | None = None     # 'adamw' | 'sgd'
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None      # 'cosine' | 'step'
    decay: float | None = None       # step schedule: lr *= decay every decay_epochs
    decay_epochs: float | None = None
    warmup_epochs: float | None = None
    drop_rate: float | None = None   # dropout before the classifier
    label_smoothing: float | None = None
    ema_decay: float | None = None   # Polyak / EMA weights for evaluation; 0 = off
    bn_momentum: float | None = None  # override the model's BN momentum (PyTorch convention)
    img_size: int | None = None      # default: 16 for digits, the model's size otherwise
    normalize: str = "tf"            # 'tf' (x / 127.5 - 1) | 'imagenet'
    augment: bool = True             # random resized crop + flip (image folders)
    hflip: bool = True
    val_split: float = 0.1           # image folders without val/: held-out fraction
    workers: int = 2                 # DataLoader worker processes (image folders)
    amp: str = "auto"                # 'auto' (bf16 on CUDA, fp32 on CPU) | 'none' | 'bf16' | 'fp16'
    channels_last: bool = True       # faster convs on CPU and GPU
    compile: bool = False            # torch.compile the model (CPU training measured 0.9x)
    grad_clip: float | None = None   # max gradient norm
    seed: int = 0
    ckpt_every: int = 0              # also checkpoint every N steps (0: each epoch only)
    keep_checkpoints: int = 2
    resume: bool = False
    device: str = "auto"             # 'auto' | 'cpu' | 'cuda'
    tensorboard: bool = False
    progress: bool = True
    model_kwargs: dict = field(default_factory=dict)  # extra model config overrides

    def resolved(self) -> dict:
        """The recipe's values with this config's explicit overrides applied."""
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe={self.recipe!r}: expected one of {sorted(RECIPES)}")
        out = dict(RECIPES[self.recipe])
        for k in out:
            v = getattr(self, k, None)
            if v is not None:
                out[k] = v
        return out
