"""Series: labelled multi-sensor time series for the 1-D networks.

Specs: `aeon:NAME` (a set shipped inside aeon, with its published train/test split), a `.npz`
(X, y, optionally X_test, y_test), `.npy`/`.csv` files, `NAME_TRAIN.ts`/`.arff` (the `_TEST`
partner beside it is found), or a folder holding such a pair. Reading is in `series.py` and
`series_io.py`; the record is `SeriesPreprocess` (per-channel statistics and length).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..series import (
    SeriesPreprocess,
    as_series_list,
    is_series_spec,
    labelled_series,
    load_series_parts,
    read_series_file,
)
from ..series_io import SERIES_SUFFIXES
from .base import DataSettings, Inputs, Modality, TrainingData, same_data
from .inputs import as_numpy, expand_paths

_AEON = "aeon:"


class SeriesModality(Modality):
    name = "series"
    unit = "series"
    dims = 1
    default_model = "xceptiontime"
    recipe = "series"
    epochs = 100
    batch_size = 16
    record = SeriesPreprocess
    specs = "aeon:NAME, a .npz (X, y), NAME_TRAIN.ts/.arff, or a folder of such a pair"

    def owns(self, spec: str | Path | None) -> bool:
        return is_series_spec(spec)

    def run_name(self, spec: str | None) -> str:
        text = str(spec).rstrip("/\\")
        name = text[len(_AEON):] if text.startswith(_AEON) else Path(text).stem
        for part in ("_TRAIN", "_train"):
            name = name.removesuffix(part)
        return name or "data"

    def training_data(self, settings: DataSettings, model: str) -> TrainingData:
        with warnings.catch_warnings():  # the default --val-split meets a published split
            warnings.filterwarnings("ignore", "val_split is ignored")
            train, val, prep, published = load_series_parts(settings.spec, settings.val_split,
                                                            settings.held_out_seed)
        return TrainingData(train, val, prep, "test" if published else "validation")

    def labelled(self, spec: str | Path | None, preprocess: SeriesPreprocess,
                 classes: list[str], trained: dict, split: str = "eval") -> Dataset:
        source = trained.get("data")
        spec = source if spec is None else spec  # series data is named by a spec: rebuild it
        if spec is None:
            raise ValueError(f"--data is required: e.g. aeon:BasicMotions or a .npz file "
                             f"({self.specs})")
        own = trained if same_data(spec, source) else None
        return labelled_series(spec, preprocess, classes, split, own)

    def predict_inputs(self, preprocess: SeriesPreprocess, inputs: Inputs):
        if isinstance(inputs, torch.Tensor | np.ndarray):
            arr = as_numpy(inputs)
            yield from _named(preprocess, arr, preprocess.apply(arr, warn=False), None)
            return
        for path, error in expand_paths(inputs, SERIES_SUFFIXES, "series files"):
            if error is not None:
                yield {"input": path, "error": error}, None
                continue
            try:
                raw = read_series_file(path, with_labels=False)[0]
                x = preprocess.apply(raw, warn=False)
            except (ValueError, OSError) as err:
                yield {"input": path, "error": f"unreadable series ({err})"}, None
                continue
            yield from _named(preprocess, raw, x, path)

    def default_preprocess(self, info: Any, config: dict) -> SeriesPreprocess:
        # Statistics come from data; without them predict says so.
        return SeriesPreprocess(None, None, info.input_size[0], config.get("in_chans", 3))


def _named(prep: SeriesPreprocess, raw, x: torch.Tensor, path: str | None):
    """Entries FILE[i] (or input[i]); a series longer than the model's length gets the note."""
    series = as_series_list(raw)
    note = prep.truncation_note(series)
    for i, xi in enumerate(x):
        entry = {"input": f"{path}[{i}]" if path else f"input[{i}]"}
        if path:
            entry["file"] = path
        if note and series[i].shape[1] > prep.length:
            entry["note"] = note
        yield entry, xi
