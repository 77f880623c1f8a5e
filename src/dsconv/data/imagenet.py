"""ImageNet conventions of the Keras weights: 'tf' preprocessing and `decode_predictions`."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import torch

from .transforms import normalize


def preprocess_input(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Keras's 'tf' mode (Xception, MobileNet): pixels in [0, 255] -> [-1, 1], x / 127.5 - 1.

    x: a tensor or numpy array of any shape, uint8 or float; returns float32 of that shape.
    """
    return normalize(torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
                     .to(torch.float32), "tf")


@lru_cache(maxsize=1)
def imagenet_classes() -> list[tuple[str, str]]:
    """The 1000 (WordNet id, name) pairs in class-index order (shipped with the package)."""
    text = resources.files("dsconv").joinpath("data/imagenet_classes.json").read_text("utf8")
    return [tuple(c) for c in json.loads(text)]


def decode_predictions(logits: torch.Tensor, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """(N, 1000) logits or probabilities -> per sample, the `top` (wnid, name, probability).

    Logits are turned into probabilities with a softmax; rows that already sum to 1 and are
    non-negative are taken as probabilities (Keras's models end in a softmax).
    """
    if logits.dim() != 2 or logits.shape[1] != 1000:
        raise ValueError(f"decode_predictions expects (N, 1000) scores, got {tuple(logits.shape)}")
    probs = logits.float()
    is_prob = bool((probs >= 0).all()) and torch.allclose(probs.sum(1), torch.ones(len(probs)),
                                                          atol=1e-3)
    if not is_prob:
        probs = probs.softmax(1)
    values, idx = probs.topk(top, dim=1)
    names = imagenet_classes()
    return [[(*names[i], float(v)) for v, i in zip(vs.tolist(), ids.tolist())]
            for vs, ids in zip(values, idx)]
