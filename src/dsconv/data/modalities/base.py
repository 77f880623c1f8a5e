"""What every kind of data (a modality) provides, so that the rest of dsconv never asks which
kind it holds.

A modality owns its `--data` specs, builds the training and validation sets, defines the typed
preprocessing record a model file carries (`Preprocess`), builds the labelled sets `evaluate` and
`quantize` measure on, reads `predict`'s inputs, and names its defaults (model, recipe, epochs,
batch). The trainer, the inference commands and the experiments runner ask it; adding a kind of
data means adding one `Modality` (and registering it in `modalities/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from ..preprocess import Preprocess

# What `predict` takes: paths (files or folders), or an in-memory batch of raw inputs.
Inputs = str | Path | Sequence[str | Path] | torch.Tensor | np.ndarray


@dataclass(frozen=True)
class DataSettings:
    """What a training run asks of its data: TrainConfig's data fields, as data needs them."""

    spec: str | None = None          # --data (None: the modality's bundled default)
    img_size: int | None = None      # images: input size (None: the data's or model's default)
    normalize: str = "tf"            # images: input scaling
    augment: bool = True             # images: random resized crop + flip in training
    hflip: bool = True               # images: horizontal flips when augmenting
    val_split: float = 0.1           # held-out fraction where the data has no split of its own
    seed: int = 0                    # of augmentation, and of the held-out split (split_seed)
    in_chans: int | None = None      # asked by --model-args in_chans (None: the data's)
    init_chans: int | None = None    # the --init file's model's (kept where the data allows)
    vocab_size: int = 8000           # text: the tokenizer's pieces, both languages together
    max_len: int = 128               # text: most tokens a side may have (EOS included); longer
    #                                  training pairs are left out, with a warning
    split_seed: int | None = None    # of the held-out split (None: seed); an ensemble's members
    #                                  share one, so none trains on what the ensemble is scored on

    @property
    def held_out_seed(self) -> int:
        """The seed of the held-out split (and of the digits' test split)."""
        return self.seed if self.split_seed is None else self.split_seed


@dataclass
class TrainingData:
    """The sets a training run uses, and the record its model file will carry."""

    train: Dataset                   # items (x, label, index); has .classes and .epoch
    val: Dataset | None              # evaluated after every epoch (None: no validation)
    preprocess: Preprocess           # how raw inputs become x; saved with the model
    val_name: str                    # what the validation rows measure: 'test' or 'validation'


class Modality:
    """One kind of data. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]              # 'image', 'series': the model file's preprocess kind
    unit: ClassVar[str]              # what its items are called in reports: 'images', 'series'
    dims: ClassVar[int]              # spatial dims of the inputs its models take
    default_model: ClassVar[str]     # trained when --model is not given
    recipe: ClassVar[str]            # the named training recipe it defaults to
    epochs: ClassVar[int]            # default --epochs
    batch_size: ClassVar[int]        # default --batch-size
    record: ClassVar[type[Preprocess]]  # its preprocessing record
    specs: ClassVar[str]             # the --data forms it takes, for help and messages
    classifies: ClassVar[bool] = True  # its models are classifiers (an ensemble can average)

    def owns(self, spec: str | Path | None) -> bool:
        """Whether `spec` names data of this kind (None: the bundled default's kind)."""
        raise NotImplementedError

    def accepts(self, info: Any) -> bool:
        """Whether a registered model (its ModelInfo) takes inputs of this kind."""
        return not info.tokens and info.dims == self.dims

    def run_name(self, spec: str | None) -> str:
        """A short name for the data, for the default run folder runs/<name>."""
        raise NotImplementedError

    def train_size(self, settings: DataSettings, model: str) -> tuple[int, ...] | None:
        """The input size a run will train `model` at, when known before reading the data."""
        return None

    def training_data(self, settings: DataSettings, model: str) -> TrainingData:
        """The training and validation sets of `settings.spec`, for registered model `model`."""
        raise NotImplementedError

    def labelled(self, spec: str | Path | None, preprocess: Preprocess, classes: list[str],
                 trained: dict, split: str = "eval") -> Dataset:
        """A trained model's labelled items (x, label, index), preprocessed its way.

        spec: the data to measure on (None: what `trained`, the model file's provenance, names,
        where the modality can rebuild it). split 'eval': the data's test or validation part,
        or the part the model's run held out of it; 'train': the rest. The result's
        `split_name` says which items these are.
        """
        raise NotImplementedError

    def predict_inputs(self, preprocess: Preprocess, inputs: Inputs
                       ) -> Iterator[tuple[dict, torch.Tensor | None]]:
        """(result entry, x or None) per input: x is one preprocessed input (C, *S); an input
        that cannot be used gets entry['error'] and x None."""
        raise NotImplementedError

    def default_preprocess(self, info: Any, config: dict) -> Preprocess:
        """The record of a registered model saved without training data (its design's)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.name} modality>"


def same_data(data: str | Path, trained_on: str | Path | None) -> bool:
    """True when `data` names what the model was trained on: the same spec ('aeon:NAME') or the
    same file or folder (paths compared resolved, from the current directory)."""
    if trained_on is None:
        return False
    if str(data) == str(trained_on):
        return True
    if ":" in str(trained_on) and not Path(str(trained_on)).exists():
        return False  # a spec such as aeon:NAME, not a path: only the same text matches
    return Path(data).resolve() == Path(trained_on).resolve()
