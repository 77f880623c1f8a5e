"""Image folders on disk (decoded with Pillow) and images in memory, as datasets.

Items are (x, label, index). An unreadable image yields x=None and is skipped and counted by
`collate`; it never stops a run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .sampling import sample_generator
from .splits import held_out_name, recorded_split, whole_name
from .transforms import normalize, open_image, random_crop_box

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


@dataclass
class DataConfig:
    img_size: int = 299              # network input (square)
    resize_ratio: float = 0.875      # eval: resize to img_size / ratio, centre crop
    normalize: str = "tf"            # 'tf': x / 127.5 - 1 (Keras); 'imagenet': mean / std
    augment: bool = True             # train: random resized crop + horizontal flip
    scale: tuple[float, float] = (0.35, 1.0)   # random resized crop area range
    hflip: bool = True               # random horizontal flip in training
    val_split: float = 0.0           # without val/: this fraction of train/ (stratified)
    seed: int = 0                    # of augmentation
    split_seed: int | None = None    # of the held-out split (None: seed)


def find_images(root: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """[(path, class index)] and class names of an ImageFolder-style directory."""
    if root.is_file():
        kind = "an image file" if root.suffix.lower() in IMAGE_EXTENSIONS else "a file"
        raise ValueError(f"{root} is {kind}, not a folder: --data takes a folder of class "
                         "folders (DIR/<class name>/<images>), or series data (aeon:NAME, a "
                         ".npz, .ts or .arff file)")
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
        path, _ = self.samples[index]
        with open_image(path, self.in_chans) as im:
            return self.transform(im, gen)

    def transform(self, im, gen: torch.Generator) -> torch.Tensor:
        """A decoded Pillow image (in this set's mode) -> network input (C, S, S)."""
        from PIL import Image

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
    base = root / "train" if (root / "train").is_dir() else root
    if len(classes) < 2:
        raise ValueError(f"{base}: one class ({classes[0]!r}): nothing to learn; a classifier "
                         f"needs at least 2 class folders ({base}/<class name>/<images>)")
    if va is None and cfg.val_split > 0:
        seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
        tr, va = split_samples(tr, classes, cfg.val_split, seed, base)
    train = ImageFolder(tr, classes, cfg, train=True, in_chans=in_chans)
    val = ImageFolder(va, classes, cfg, train=False, in_chans=in_chans) if va else None
    return train, val


def split_samples(samples: list[tuple[Path, int]], classes: list[str], frac: float, seed: int,
                  root: Path) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """(train, held-out) samples: `frac` of each class held out, stratified and seeded.

    The same samples, fraction and seed always give the same split (evaluation rebuilds it).
    Too few images for a stratified split is an error naming the class folders and the fix.
    """
    from sklearn.model_selection import train_test_split

    counts = np.bincount([t for _, t in samples], minlength=len(classes))
    single = [str(root / classes[k]) for k in np.flatnonzero(counts < 2)]
    if single:
        raise ValueError(f"only 1 image in class folder(s) {', '.join(single)}: too few to "
                         f"hold out val_split={frac} of each class for validation and still "
                         "train on it; add images there, or pass --val-split 0 (no validation)")
    n_val = int(np.ceil(frac * len(samples)))  # as scikit-learn rounds it
    if min(n_val, len(samples) - n_val) < len(classes):
        raise ValueError(f"{root}: val_split={frac} holds out {n_val} of {len(samples)} images, "
                         f"but a stratified split needs at least one of each of the "
                         f"{len(classes)} classes on both sides; change --val-split, add "
                         "images, or pass --val-split 0 (no validation)")
    tr, va = train_test_split(samples, test_size=frac, random_state=seed,
                              stratify=[t for _, t in samples])
    return tr, va


def collate(batch):
    """Stack the readable samples; returns (x, y, indices of unreadable samples)."""
    good = [b for b in batch if b[0] is not None]
    bad = [b[2] for b in batch if b[0] is None]
    if not good:
        return None, None, bad
    return (torch.stack([b[0] for b in good]), torch.tensor([b[1] for b in good]), bad)


def labelled_images(root: str | Path, classes: list[str], cfg: DataConfig, in_chans: int,
                    split: str = "eval", trained: dict | None = None) -> ImageFolder:
    """The labelled images of `root` for a model that knows `classes`, transformed for eval.

    split 'eval': root/val or root/test when present; else the images of root/train (or root)
    that the model's run held out, when `trained` (the model's provenance, given when root is
    the folder it was trained on) records its val_split and seed; else all of them. 'train':
    the rest of root/train (or root). Class folders must match the model's classes. The
    result's `split_name` says which images these are.
    """
    root = Path(root)
    base = root / "train" if (root / "train").is_dir() else root
    own = [root / s for s in ("val", "test") if (root / s).is_dir()]
    if split != "train" and own:
        return _model_images(own[0], classes, cfg, in_chans, str(own[0]))
    held = recorded_split(trained) if not (root / "val").is_dir() else None
    if held is None:
        name = whole_name(base, "images", trained if split != "train" else None)
        return _model_images(base, classes, cfg, in_chans, name)
    ds = _model_images(base, classes, cfg, in_chans, held_out_name(base, held[0], "folder", split))
    tr, va = split_samples(ds.samples, ds.classes, held[0], held[1], base)
    ds.samples = tr if split == "train" else va
    return ds


def _model_images(root: Path, classes: list[str], cfg: DataConfig, in_chans: int, name: str
                  ) -> ImageFolder:
    samples, found = find_images(root)
    if found != list(classes):
        raise ValueError(f"{root}: classes {found} differ from the model's {list(classes)}")
    ds = ImageFolder(samples, list(classes), cfg, train=False, in_chans=in_chans)
    ds.split_name = name
    return ds
