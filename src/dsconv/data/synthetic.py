"""A procedurally generated image set, shipped as code: `synthetic:shapes`.

The bundled digits are too easy to tell network variants apart (every variant reaches ~99%).
Here each image is one of 5 shapes (disc, ring, square, triangle, cross), solid or striped
(10 classes), at a random position, scale and rotation, in random colours that are often close
to the background's, over a random grating texture, with 1-3 distractor strokes and blobs and
pixel noise. Colour says nothing about the class; shape and texture do, and both are small
against the clutter, so `xception_mini` stays well below 100% after a few CPU minutes and the
variants of the claims separate.

The data is a pure function of (size, counts, data seed, epoch): every run of an experiment sees
the same images whatever its training seed. By default the training images are drawn afresh
each epoch (a few thousand fixed images are memorised: train 90%, test 36%). Rendering is
vectorised numpy, ~0.3 ms an image, so drawing them during training costs little.
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl

import numpy as np
import torch

from .images import TensorImages

SHAPES = ("disc", "ring", "square", "triangle", "cross")
FILLS = ("solid", "striped")
CLASSES = [f"{s}_{f}" for s in SHAPES for f in FILLS]
DEFAULT_SIZE = 24
DEFAULT_COUNTS = (4000, 1000)  # train, test


def _shape_mask(kind: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of `kind` with radius r in rotated, centred coordinates u, v."""
    d = np.hypot(u, v)
    if kind == "disc":
        return d < r
    if kind == "ring":
        return (d < r) & (d > 0.55 * r)
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) < 0.8 * r
    if kind == "triangle":  # equilateral: three half-planes at 120 degrees
        angles = np.pi / 2 + np.array([0, 2, 4]) * np.pi / 3
        inside = [u * np.cos(a) + v * np.sin(a) < 0.5 * r for a in angles]
        return inside[0] & inside[1] & inside[2]
    thick = 0.3 * r  # cross
    return ((np.abs(u) < thick) & (np.abs(v) < r)) | ((np.abs(v) < thick) & (np.abs(u) < r))


def _grating(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, size: int,
             period: tuple[float, float]) -> np.ndarray:
    """A sinusoidal grating of random orientation and phase, values in [-1, 1]."""
    theta = rng.uniform(0, np.pi)
    freq = 2 * np.pi / (rng.uniform(*period) * size / 24)
    return np.sin(freq * (xx * np.cos(theta) + yy * np.sin(theta)) + rng.uniform(0, 2 * np.pi))


def _render(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
    """One (3, size, size) float32 image in [-1, 1] of class `label`."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bg = rng.uniform(-0.6, 0.6, 3)[:, None, None]
    img = bg + rng.uniform(0.05, 0.3) * _grating(rng, yy, xx, size, (4, 12))[None]
    for _ in range(rng.integers(1, 4)):  # distractors: strokes and blobs in random colours
        cy, cx = rng.uniform(0, size, 2)
        if rng.random() < 0.5:
            a = rng.uniform(0, np.pi)
            along = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
            across = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
            mask = (np.abs(across) < size / 24) & (np.abs(along) < rng.uniform(0.2, 0.45) * size)
        else:
            mask = np.hypot(xx - cx, yy - cy) < rng.uniform(0.05, 0.12) * size
        img = np.where(mask[None], rng.uniform(-1, 1, 3)[:, None, None], img)
    shape, fill = SHAPES[label // len(FILLS)], FILLS[label % len(FILLS)]
    r = rng.uniform(0.22, 0.36) * size
    cy, cx = rng.uniform(r * 0.8, size - r * 0.8, 2)
    a = rng.uniform(0, 2 * np.pi)
    u = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a)
    v = -(xx - cx) * np.sin(a) + (yy - cy) * np.cos(a)
    mask = _shape_mask(shape, u, v, r)
    fg = bg[:, 0, 0] + rng.choice([-1, 1]) * rng.uniform(0.25, 0.8, 3)  # often low contrast
    colour = np.broadcast_to(fg[:, None, None], img.shape)
    if fill == "striped":  # stripes of the background colour across the shape
        colour = np.where(_grating(rng, yy, xx, size, (3, 5))[None] > 0, colour, bg)
    img = np.where(mask[None], colour, img)
    img = img + rng.normal(0, rng.uniform(0.05, 0.2), img.shape)
    return np.clip(img, -1, 1).astype(np.float32)


@functools.lru_cache(maxsize=4)  # an experiment's runs in one process share the images
def _images(img_size: int, n: int, data_seed: int, stream: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng([data_seed, stream])
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    x = np.zeros((n, 3, img_size, img_size), np.float32)
    for i, k in enumerate(labels):
        x[i] = _render(rng, int(k), img_size)
    return torch.from_numpy(x), torch.from_numpy(labels)


class ShapesStream(TensorImages):
    """Training images drawn afresh every epoch: item i of epoch e is rendered from the seed
    (data_seed, e, i), with a fixed, balanced label per i. A model cannot memorise its training
    set, so the accuracy of a variant says what it learned about shapes and textures, not how
    well it overfits a few thousand images. Item: (x (3, S, S), label, index)."""

    def __init__(self, n: int, img_size: int, data_seed: int) -> None:
        rng = np.random.default_rng([data_seed, 2])
        labels = torch.from_numpy(rng.permutation(np.arange(n) % len(CLASSES)))
        super().__init__(None, labels, list(CLASSES))  # no stored images: rendered per item
        self.img_size, self.data_seed = img_size, data_seed

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.data_seed, 3, self.epoch, index])
        label = int(self.y[index])
        return torch.from_numpy(_render(rng, label, self.img_size)), label, index


def shapes(img_size: int = DEFAULT_SIZE, n_train: int = DEFAULT_COUNTS[0],
           n_test: int = DEFAULT_COUNTS[1], data_seed: int = 0, fresh: bool = True
           ) -> tuple[ShapesStream | TensorImages, TensorImages]:
    """(train, test) of the procedural shapes set: images (N, 3, img_size, img_size) in [-1, 1],
    10 balanced classes (`CLASSES`). The same arguments always give the same images. fresh:
    the training images are new every epoch (`ShapesStream`); else one fixed set. The test
    set is always fixed, and drawn from a stream the training images never use."""
    if img_size < 8:
        raise ValueError(f"img_size={img_size}: the shapes set needs at least 8 pixels")
    train = (ShapesStream(n_train, img_size, data_seed) if fresh else
             TensorImages(*_images(img_size, n_train, data_seed, 0), list(CLASSES)))
    return train, TensorImages(*_images(img_size, n_test, data_seed, 1), list(CLASSES))


def load_synthetic(spec: str, img_size: int | None) -> tuple[TensorImages, TensorImages]:
    """`synthetic:shapes[?train=N&test=M&seed=S&fresh=0|1]` -> (train, test); img_size None:
    24. train: images per epoch (drawn afresh each epoch unless fresh=0)."""
    name, _, query = spec.split(":", 1)[1].partition("?")
    if name != "shapes":
        raise ValueError(f"--data {spec}: unknown synthetic set {name!r}; the one there is: "
                         "synthetic:shapes[?train=N&test=M&seed=S&fresh=0|1]")
    args = {"train": DEFAULT_COUNTS[0], "test": DEFAULT_COUNTS[1], "seed": 0, "fresh": 1}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in args or not value.isdigit():
            raise ValueError(f"--data {spec}: {key}={value!r}: expected train, test, seed or "
                             "fresh (0: one fixed training set) set to a non-negative integer")
        args[key] = int(value)
    if args["train"] < len(CLASSES):
        raise ValueError(f"--data {spec}: train={args['train']}: at least one image per "
                         f"class ({len(CLASSES)})")
    return shapes(img_size or DEFAULT_SIZE, args["train"], args["test"], args["seed"],
                  bool(args["fresh"]))
