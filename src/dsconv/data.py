"""Data: image folders on disk (decoded with Pillow) and the bundled digits set (scikit-learn).

Every random choice (the epoch's order, each crop and flip) comes from a generator seeded by
(seed, epoch, sample index), never from global state or worker processes, so that a run
killed and resumed sees exactly the batches an uninterrupted run would.

Unreadable images are skipped with a warning and counted; they never stop a run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class DataConfig:
    img_size: int = 299              # network input (square)
    resize_ratio: float = 0.875      # eval: resize to img_size / ratio, centre crop
    normalize: str = "tf"            # 'tf': x / 127.5 - 1 (Keras); 'imagenet': mean / std
    augment: bool = True             # train: random resized crop + horizontal flip
    scale: tuple[float, float] = (0.35, 1.0)   # random resized crop area range
    hflip: bool = True               # random horizontal flip in training
    val_split: float = 0.0           # without val/: this fraction of train/ (stratified)
    seed: int = 0


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one sample's augmentation, a pure function of (seed, epoch, index)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_000_019 + index)


def normalize(x: torch.Tensor, mode: str) -> torch.Tensor:
    """(C, H, W) float pixels in [0, 255] -> network input."""
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "imagenet":
        c = x.shape[0]
        mean = torch.tensor(IMAGENET_MEAN[:c]).view(c, 1, 1) * 255
        std = torch.tensor(IMAGENET_STD[:c]).view(c, 1, 1) * 255
        return (x - mean) / std
    raise ValueError(f"normalize={mode!r}: expected 'tf' or 'imagenet'")


def find_images(root: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """[(path, class index)] and class names of an ImageFolder-style directory."""
    if not root.is_dir():
        raise FileNotFoundError(f"data directory not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{root}: no class subfolders; expected {root}/<class name>/<images>")
    samples = []
    for i, c in enumerate(classes):
        files = sorted(p for p in (root / c).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(f"{root / c}: class {c!r} has no images "
                             f"({', '.join(sorted(IMAGE_EXTENSIONS))}); add some or remove it")
        samples += [(f, i) for f in files]
    return samples, classes


class ImageFolder(Dataset):
    """Images in <root>/<class>/..., decoded with Pillow. Item: (x (C, S, S), label, index).

    A file that cannot be decoded yields x=None (the collate function drops and counts it).
    """

    def __init__(self, samples: list[tuple[Path, int]], classes: list[str], cfg: DataConfig,
                 train: bool, in_chans: int = 3) -> None:
        self.samples, self.classes, self.cfg, self.train = samples, classes, cfg, train
        self.in_chans = in_chans
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def targets(self) -> list[int]:
        return [t for _, t in self.samples]

    def load(self, index: int, gen: torch.Generator) -> torch.Tensor:
        from PIL import Image

        path, _ = self.samples[index]
        with Image.open(path) as im:
            im = im.convert("RGB" if self.in_chans == 3 else "L")
            w, h = im.size
            size = self.cfg.img_size
            if self.train and self.cfg.augment:
                box = random_crop_box(w, h, self.cfg.scale, gen)
            else:
                side = min(w, h) * self.cfg.resize_ratio
                box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
            im = im.resize((size, size), Image.BILINEAR, box=box)
            arr = np.asarray(im, dtype=np.float32)
        x = torch.from_numpy(arr.copy()).reshape(size, size, -1).permute(2, 0, 1)
        flip = self.train and self.cfg.augment and self.cfg.hflip
        if flip and torch.rand(1, generator=gen) < 0.5:
            x = x.flip(-1)
        return normalize(x, self.cfg.normalize)

    def __getitem__(self, index: int):
        gen = sample_generator(self.cfg.seed, self.epoch, index)
        try:
            return self.load(index, gen), self.samples[index][1], index
        except Exception as err:  # noqa: BLE001 - any decoder failure means "skip this file"
            warnings.warn(f"skipping unreadable image {self.samples[index][0]}: {err}",
                          stacklevel=2)
            return None, self.samples[index][1], index


def random_crop_box(w: int, h: int, scale: tuple[float, float], gen: torch.Generator
                    ) -> tuple[float, float, float, float]:
    """A random crop of `scale` of the area and aspect ratio in [3/4, 4/3] (Inception's)."""
    area = w * h
    for _ in range(10):
        u = torch.rand(3, generator=gen).tolist()
        target = area * (scale[0] + u[0] * (scale[1] - scale[0]))
        ratio = float(np.exp(np.log(3 / 4) + u[1] * (np.log(4 / 3) - np.log(3 / 4))))
        cw, ch = (target * ratio) ** 0.5, (target / ratio) ** 0.5
        if cw <= w and ch <= h:
            x0 = u[2] * (w - cw)
            y0 = float(torch.rand(1, generator=gen)) * (h - ch)
            return x0, y0, x0 + cw, y0 + ch
    side = min(w, h)
    return (w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2


class TensorImages(Dataset):
    """Images already in memory: x (N, C, S, S) network-ready, y (N,). Item: (x, label, index)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, classes: list[str]) -> None:
        self.x, self.y, self.classes = x, y, classes
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.y)

    @property
    def targets(self) -> list[int]:
        return self.y.tolist()

    def __getitem__(self, index: int):
        return self.x[index], int(self.y[index]), index


def digits(img_size: int = 16, seed: int = 0) -> tuple[TensorImages, TensorImages]:
    """scikit-learn's handwritten digits (1,797 8x8 images, 10 classes), a fixed stratified
    75/25 split, upsampled to img_size and scaled to [-1, 1]. Returns (train, test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8.0 - 1.0  # pixels are 0..16
    if img_size != 8:
        x = F.interpolate(x, size=img_size, mode="bilinear", align_corners=False)
    y = torch.tensor(d.target)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=0.25, stratify=d.target, random_state=seed)
    classes = [str(i) for i in range(10)]
    return (TensorImages(x[tr], y[tr], classes), TensorImages(x[te], y[te], classes))


def image_folders(root: str | Path, cfg: DataConfig, in_chans: int = 3
                  ) -> tuple[ImageFolder, ImageFolder | None]:
    """root/train + root/val, or root/<class> split by cfg.val_split. Returns (train, val)."""
    root = Path(root)
    if (root / "train").is_dir():
        tr, classes = find_images(root / "train")
        va = None
        if (root / "val").is_dir():
            va, val_classes = find_images(root / "val")
            if val_classes != classes:
                raise ValueError(f"{root}: train/ and val/ have different classes: "
                                 f"{classes} vs {val_classes}")
    else:
        tr, classes = find_images(root)
        va = None
    if va is None and cfg.val_split > 0:
        from sklearn.model_selection import train_test_split

        tr, va = train_test_split(tr, test_size=cfg.val_split, random_state=cfg.seed,
                                  stratify=[t for _, t in tr])
    train = ImageFolder(tr, classes, cfg, train=True, in_chans=in_chans)
    val = ImageFolder(va, classes, cfg, train=False, in_chans=in_chans) if va else None
    return train, val


def collate(batch):
    """Stack the readable samples; returns (x, y, indices of unreadable samples)."""
    good = [b for b in batch if b[0] is not None]
    bad = [b[2] for b in batch if b[0] is None]
    if not good:
        return None, None, bad
    return (torch.stack([b[0] for b in good]), torch.tensor([b[1] for b in good]), bad)


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """The sample order of one epoch, a pure function of (n, seed, epoch)."""
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))
