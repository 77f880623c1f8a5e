"""The bundled default data: scikit-learn's handwritten digits."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .images import TensorImages


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
