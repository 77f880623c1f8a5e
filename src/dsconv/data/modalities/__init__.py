"""The kinds of data dsconv trains on, and the one resolver that picks one.

    modality_of("aeon:BasicMotions")      # <series modality>, from a --data spec
    modality_of(None)                      # <image modality>: the bundled digits
    modality_of("multi30k/train.en-de")   # <text modality>: train.en -> train.de
    modality_named(meta.preprocess.kind)   # from a model file's record
    modality_of_model(model_info(name))    # from a registered model

A new kind of data is one `Modality` subclass in its own file here, added to `MODALITIES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ..preprocess import Preprocess
from .base import DataSettings, Inputs, Modality, TrainingData, same_data
from .image import ImageModality, ImagePreprocess, image_preprocess
from .series import SeriesModality
from .text import TextModality

# Asked in this order: text first (its specs are the narrowest: PREFIX.SRC-TGT, FILE.tsv),
# images last, as they take what no other kind claims (folders).
MODALITIES: tuple[Modality, ...] = (TextModality(), SeriesModality(), ImageModality())


def modality_of(spec: str | Path | None) -> Modality:
    """The modality that owns a --data spec (None: the bundled digits, images)."""
    return next(m for m in MODALITIES if m.owns(spec))


def modality_named(name: str) -> Modality:
    """The modality of a model file's preprocessing "kind" ('image', 'series', 'text')."""
    for m in MODALITIES:
        if m.name == name:
            return m
    raise ValueError(f"unknown kind of data {name!r}: this dsconv knows "
                     f"{', '.join(m.name for m in MODALITIES)}; upgrade dsconv to read the file")


def modality_of_model(info: Any) -> Modality:
    """The modality whose inputs a registered model (its ModelInfo) takes."""
    return next(m for m in MODALITIES if m.accepts(info))


def read_preprocess(d: dict | Preprocess) -> Preprocess:
    """A model file's preprocessing record from its metadata dict (no "kind": an image model,
    as dsconv 0.1 wrote them)."""
    if isinstance(d, Preprocess):
        return d
    return modality_named(d.get("kind", ImageModality.name)).record.from_dict(d)


def labelled_split(preprocess: Preprocess | dict, classes: list[str], data: str | Path | None,
                   trained_on: dict | str | None, split: str = "eval") -> Dataset:
    """Items (x, label, index) for a model whose file records `preprocess` and `classes`.

    data: the data to measure on: an ImageFolder root (split 'eval': its val/ or test/
    subfolder when present, else the images the model's run held out of it when it is the
    folder the model was trained on, else all of it; 'train': the rest), a series spec, a
    synthetic spec, or None: the data the model was trained on where its spec rebuilds it
    (series, synthetic), or the bundled digits, allowed only when the model was trained on
    them. trained_on: the model file's provenance ('data', and the run's 'val_split' and
    'seed'), or just its 'data' (then no held-out split is known). The result's `split_name`
    names what it holds, e.g. "DIR (held-out 10% of the training folder)".
    """
    record = read_preprocess(preprocess)
    provenance = trained_on if isinstance(trained_on, dict) else {"data": trained_on}
    modality = modality_named(record.kind)
    given = modality_of(data) if data is not None else modality
    if given is not modality:
        raise ValueError(f"--data {data} is {given.name} data, but this model takes "
                         f"{modality.name} data ({modality.specs})")
    return modality.labelled(data, record, classes, provenance, split)


__all__ = ["MODALITIES", "DataSettings", "ImageModality", "ImagePreprocess", "Inputs",
           "Modality", "Preprocess", "SeriesModality", "TextModality", "TrainingData",
           "image_preprocess", "labelled_split", "modality_named", "modality_of",
           "modality_of_model", "read_preprocess", "same_data"]
