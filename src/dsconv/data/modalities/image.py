"""Images: folders of class folders, the bundled digits, and the procedural `synthetic:shapes`.

Specs: `DIR` (DIR/train + DIR/val, or DIR/<class>/<images>), `digits` or no --data (the bundled
digits), `synthetic:shapes[?train=N&test=M&seed=S&fresh=0|1]`. Images take every spec no other
modality claims, so a mistyped folder gets the folder reader's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from ..digits import digits
from ..images import IMAGE_EXTENSIONS, DataConfig, ImageFolder, image_folders, labelled_images
from ..preprocess import Preprocess
from ..sampling import sample_generator
from ..synthetic import CLASSES as SHAPE_CLASSES
from ..synthetic import DEFAULT_SIZE as SHAPES_SIZE
from ..synthetic import load_synthetic
from .base import DataSettings, Inputs, Modality, TrainingData, same_data
from .inputs import as_numpy, expand_paths

DIGITS_SIZE = 16  # the digits are 8x8; 16 px trains the small models well
_SYNTHETIC = "synthetic:"


@dataclass(frozen=True)
class ImagePreprocess(Preprocess):
    """Decode, centre-crop `resize_ratio` of the shorter side, resize to `input_size`, scale."""

    kind: ClassVar[str] = "image"
    input_size: tuple[int, int]      # (H, W) of the network input
    in_chans: int = 3                # 1: grayscale, 3: RGB
    normalize: str = "tf"            # 'tf': x / 127.5 - 1 (Keras); 'imagenet': mean / std
    resize_ratio: float = 0.875      # the centre crop's share of the shorter side

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImagePreprocess:
        if "input_size" not in d:
            raise ValueError(f"image preprocessing lacks its input_size; has {sorted(d)}")
        size = d["input_size"]
        size = (size, size) if isinstance(size, int) else tuple(int(v) for v in size)
        return cls(size, int(d.get("in_chans", 3)), d.get("normalize", "tf"),
                   float(d.get("resize_ratio", 0.875)))

    def data_config(self) -> DataConfig:
        """The image reader's settings for this record (no augmentation)."""
        return DataConfig(img_size=self.input_size[0], normalize=self.normalize, augment=False,
                          resize_ratio=self.resize_ratio)


def image_preprocess(input_size: int | tuple[int, ...], in_chans: int, normalize: str = "tf",
                     resize_ratio: float = 0.875) -> ImagePreprocess:
    """The preprocessing record of an image model (a square size may be given as one int)."""
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return ImagePreprocess(size, in_chans, normalize, resize_ratio)


def _is_digits(spec: str | Path | None) -> bool:
    """No --data, or `digits` (unless a folder of that name is meant)."""
    return spec is None or str(spec) == "digits" and not Path("digits").exists()


def _is_synthetic(spec: str | Path | None) -> bool:
    return isinstance(spec, str) and spec.startswith(_SYNTHETIC)


class ImageModality(Modality):
    name = "image"
    unit = "images"
    dims = 2
    default_model = "xception_mini"
    recipe = "default"
    epochs = 15
    batch_size = 64
    record = ImagePreprocess
    specs = "DIR (DIR/<class>/<images>, or DIR/train + DIR/val), digits, synthetic:shapes"

    def owns(self, spec: str | Path | None) -> bool:
        return True  # asked last: what no other kind claims is a folder of images

    def run_name(self, spec: str | None) -> str:
        if _is_digits(spec):
            return "digits"
        if _is_synthetic(spec):
            return spec[len(_SYNTHETIC):].split("?")[0] or "synthetic"
        return Path(str(spec).rstrip("/\\")).name or "data"

    def train_size(self, settings: DataSettings, model: str) -> tuple[int, int]:
        """--img-size, else 16 for the digits, the shapes' own size, or the model's input."""
        from ...models import model_info

        if settings.img_size:
            size = settings.img_size
        elif _is_digits(settings.spec):
            size = DIGITS_SIZE
        elif _is_synthetic(settings.spec):
            size = SHAPES_SIZE
        else:
            return tuple(model_info(model).input_size)
        return (size, size)

    def training_data(self, settings: DataSettings, model: str) -> TrainingData:
        size = self.train_size(settings, model)[0]
        spec = settings.spec
        if _is_digits(spec):  # one channel, unless the model was asked for another count
            chans = settings.in_chans or 1
            train, val = digits(size, settings.held_out_seed)
            val_name = "test"
        elif _is_synthetic(spec):  # rendered in colour, whatever the --init model took
            chans = settings.in_chans or 3
            train, val = load_synthetic(spec, size)
            val_name = "validation"
        else:  # a fine-tuned model keeps its input channels; the folder's images follow
            chans = settings.in_chans or settings.init_chans or 3
            cfg = DataConfig(img_size=size, normalize=settings.normalize,
                             augment=settings.augment, hflip=settings.hflip,
                             val_split=settings.val_split, seed=settings.seed,
                             split_seed=settings.held_out_seed)
            train, val = image_folders(spec, cfg, chans)
            val_name = "validation"
        return TrainingData(train, val, image_preprocess(size, chans, settings.normalize),
                            val_name)

    def labelled(self, spec: str | Path | None, preprocess: ImagePreprocess,
                 classes: list[str], trained: dict, split: str = "eval") -> Dataset:
        source = trained.get("data")
        if spec is None and _is_synthetic(source):
            spec = source  # a synthetic set is rebuilt from its spec alone
        if _is_digits(spec):
            return _digits(preprocess, classes, trained, split)
        if _is_synthetic(spec):
            return _shapes(spec, preprocess, classes, split)
        own = trained if same_data(spec, source) else None
        return labelled_images(spec, classes, preprocess.data_config(), preprocess.in_chans,
                               split, own)

    def predict_inputs(self, preprocess: ImagePreprocess, inputs: Inputs):
        if isinstance(inputs, torch.Tensor | np.ndarray):
            found = _image_array(preprocess, as_numpy(inputs))
        else:
            files = expand_paths(inputs, tuple(sorted(IMAGE_EXTENSIONS)), "image files")
            found = _image_files(preprocess, files)
        for entry, x in found:  # 'image': the name dsconv 0.1's results gave the input
            yield {"input": entry["input"], "image": entry["input"], **entry}, x

    def default_preprocess(self, info: Any, config: dict) -> ImagePreprocess:
        return image_preprocess(info.input_size, config.get("in_chans", 3), info.normalize)


def _digits(pre: ImagePreprocess, classes: list[str], trained: dict, split: str) -> Dataset:
    """The digits' test (or train) split as the model's run drew it (its split seed)."""
    trained_on = trained.get("data")
    if not _is_digits(trained_on):
        raise ValueError(f"--data is required: this model was trained on {trained_on}, "
                         "not on the bundled digits")
    if pre.in_chans != 1 or classes != [str(i) for i in range(10)]:
        raise ValueError("--data is required: this model was not trained on the bundled "
                         "digits (it needs its own labelled images)")
    train, test = digits(pre.input_size[0], int(trained.get("split_seed",
                                                            trained.get("seed", 0))))
    ds = train if split == "train" else test
    ds.split_name = f"digits {'train' if split == 'train' else 'test'} split"
    return ds


def _shapes(spec: str, pre: ImagePreprocess, classes: list[str], split: str) -> Dataset:
    """The shapes set of `spec` at the model's size: its test set, or its training images."""
    if list(classes) != SHAPE_CLASSES:
        raise ValueError(f"{spec}: its classes {SHAPE_CLASSES} differ from the model's "
                         f"{list(classes)}")
    train, test = load_synthetic(spec, pre.input_size[0])
    ds = train if split == "train" else test
    ds.split_name = f"{spec} ({'training' if split == 'train' else 'test'} images)"
    return ds


def _image_files(pre: ImagePreprocess, files: list[tuple[str, str | None]]):
    """(entry, x (C, S, S) or None) per image file."""
    ds = ImageFolder([(Path(p), 0) for p, _ in files], [], pre.data_config(), train=False,
                     in_chans=pre.in_chans)
    for i, (path, error) in enumerate(files):
        if error is not None:
            yield {"input": path, "error": error}, None
            continue
        try:
            yield {"input": path, "file": path}, ds.load(i, sample_generator(0, 0, i))
        except Exception as err:  # noqa: BLE001 - any decoder failure: report, go on
            yield {"input": path, "error": f"unreadable image ({err})"}, None


def _image_array(pre: ImagePreprocess, arr: np.ndarray):
    """(entry, x (C, S, S)) per image of a (N, C, H, W) / (N, H, W, C) pixel batch."""
    from PIL import Image

    nhwc = _as_nhwc(arr, pre.in_chans)
    ds = ImageFolder([], [], pre.data_config(), train=False, in_chans=pre.in_chans)
    mode = "RGB" if pre.in_chans == 3 else "L"
    for i, img in enumerate(np.round(nhwc).astype(np.uint8)):
        im = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).convert(mode)
        yield {"input": f"input[{i}]"}, ds.transform(im, sample_generator(0, 0, i))


def _as_nhwc(arr: np.ndarray, in_chans: int) -> np.ndarray:
    """A pixel batch as (N, H, W, C) float64, C in (1, 3), values checked to be in [0, 255]."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and in_chans == 1:
        arr = arr[..., None]  # (N, H, W) grayscale
    if arr.ndim == 4 and arr.shape[1] in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)  # (N, C, H, W) is read first, as torch lays it out
    elif arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"images must be a batch (N, C, H, W) or (N, H, W, C) with C = 1 or 3"
                         f"{' (or (N, H, W))' if in_chans == 1 else ''}; got shape "
                         f"{tuple(arr.shape)}")
    if arr.dtype.kind not in "uif" or arr.size == 0:
        raise ValueError(f"images must be non-empty numbers (uint8 or float pixels); got "
                         f"{arr.dtype} of shape {tuple(arr.shape)}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("image pixels must be finite numbers in [0, 255]; got NaN/inf")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"image pixels must be in [0, 255]; got values in [{lo:g}, {hi:g}]: "
                         "pass raw pixels, not normalised ones (scale [0, 1] images by 255)")
    return arr
