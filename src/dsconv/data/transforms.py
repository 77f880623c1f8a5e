"""Image decoding and the transforms of training and evaluation, as pure functions.

Every random choice comes from a generator passed in (see `sampling`), never global state.
"""

from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NORMALIZATIONS = ("tf", "imagenet")


def normalize(x: torch.Tensor, mode: str) -> torch.Tensor:
    """(..., C, H, W) float pixels in [0, 255] -> network input.

    'tf' is Keras's mode for Xception and MobileNet (x / 127.5 - 1, in [-1, 1]); 'imagenet'
    subtracts the ImageNet mean and divides by its std per channel.
    """
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "imagenet":
        c = x.shape[-3]
        mean = torch.tensor(IMAGENET_MEAN[:c]).view(c, 1, 1) * 255
        std = torch.tensor(IMAGENET_STD[:c]).view(c, 1, 1) * 255
        return (x - mean) / std
    raise ValueError(f"normalize={mode!r}: expected one of {NORMALIZATIONS}")


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


def open_image(path, in_chans: int = 3):
    """Decode an image file with Pillow as 8-bit RGB (in_chans 3) or grayscale (1).

    16-bit images (PNG 'I;16', TIFF 'I') are scaled to 8 bits: Pillow's convert('RGB') clips
    them instead, which turns a normal photo almost white.
    """
    from PIL import Image

    im = Image.open(path)
    im.load()
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8))
    return im.convert("RGB" if in_chans == 3 else "L")
