"""Labelled 1-D (multi-sensor) time series for dsconv's 1-D networks.

Layout: one series is (C, L) = channels x time steps, a batch (N, C, L); univariate (N, L)
input becomes (N, 1, L).

* Standardisation is per channel, with stats from the training split only (padding excluded).
* Unequal lengths: standardise, then right-pad with 0 (= the channel mean) to the training max
  length. A longer series at test/predict time is truncated (with a warning), not resampled:
  resampling would change the time scale the convolution kernels learned; truncation keeps it.
* Class labels are strings; all-numeric labels sort numerically ("2" < "10"), others as strings.
* Reading files and aeon's shipped sets (never downloading) is in series_io.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from .preprocess import Preprocess
from .series_io import (
    SERIES_SUFFIXES,
    Raw,
    as_series_list,
    check_finite,
    list_aeon_datasets,
    read_series_file,
    read_spec,
)
from .splits import held_out_name, recorded_split, whole_name

__all__ = ["SeriesDataset", "SeriesPreprocess", "list_aeon_datasets", "load_series",
           "read_series_file", "is_series_spec", "labelled_series"]
_STD_FLOOR = 1e-8  # a channel with a smaller std counts as constant and gets std 1


class SeriesDataset(Dataset):
    """x (N, C, L) float32, already preprocessed; y (N,) int64.

    Item: (x[i] (C, L), int label, index i). Attributes: classes (list[str]),
    targets (list[int]), epoch (int, set by the trainer; unused here).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, classes: Sequence[str]) -> None:
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"need x (N, C, L) and y (N,); got {tuple(x.shape)}, {tuple(y.shape)}")
        self.x = x.to(torch.float32)
        self.y = y.to(torch.int64)
        self.classes = list(classes)
        self.targets: list[int] = self.y.tolist()
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        return self.x[i], self.targets[i], i


@dataclass
class SeriesPreprocess(Preprocess):
    """Per-channel standardisation + fixed length; stored in the model file as plain JSON.

    A series model saved without training data (e.g. built from the registry) has no
    statistics: mean and std are None, and it cannot preprocess raw series.
    """

    kind: ClassVar[str] = "series"
    mean: list[float] | None  # per channel, from the training split only
    std: list[float] | None  # per channel; a constant channel gets 1
    length: int  # every series is padded/truncated to this many steps
    channels: int

    @property
    def input_size(self) -> tuple[int]:
        return (self.length,)

    @property
    def in_chans(self) -> int:
        return self.channels

    def to_dict(self) -> dict:
        """As model files have held it since 0.2: kind, input_size, in_chans, then the stats."""
        head = {"kind": self.kind, "input_size": [self.length], "in_chans": self.channels}
        if self.mean is None:
            return head
        return {**head, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> SeriesPreprocess:
        length, channels = d.get("length", d.get("input_size", [None])[0]), d.get(
            "channels", d.get("in_chans"))
        missing = [k for k, v in (("length", length), ("channels", channels)) if v is None]
        missing += [k for k in ("mean", "std") if k not in d and ("mean" in d or "std" in d)]
        if missing:
            raise ValueError(f"series preprocessing lacks keys {sorted(missing)}; has {sorted(d)}")
        stats = [None if d.get(k) is None else [float(v) for v in d[k]] for k in ("mean", "std")]
        p = cls(*stats, int(length), int(channels))
        if p.mean is not None and not len(p.mean) == len(p.std) == p.channels or p.length < 1:
            raise ValueError(f"inconsistent series preprocessing: {d}")
        return p

    @classmethod
    def fit(cls, series: Raw) -> SeriesPreprocess:
        """Stats over every step of every (C, L_i) training series; length = the longest."""
        flat = np.concatenate(series, axis=1)  # (C, sum L_i): padding never enters the stats
        std = flat.std(axis=1)
        std[std < _STD_FLOOR] = 1.0
        length = max(s.shape[1] for s in series)
        return cls(flat.mean(axis=1).tolist(), std.tolist(), length, flat.shape[0])

    def apply(self, x: np.ndarray | Sequence[np.ndarray], warn: bool = True) -> torch.Tensor:
        """Raw (N, C, L) / (N, L) array or list of (C, L_i) / (L_i,) -> float32 (N, C, length).

        Shorter series are right-padded with 0 (the channel mean after standardising); longer
        ones are truncated to their first `length` steps, with a warning (warn=False: silently;
        the caller reports `truncation_note` its own way).
        """
        if self.mean is None:
            raise ValueError("this series model has no standardisation statistics (it was saved "
                             "without training data): train it with `dsconv train --data ...` "
                             "or pass preprocessed (N, C, L) tensors to the model itself")
        series = as_series_list(x)
        if series[0].shape[0] != self.channels:
            raise ValueError(f"X has {series[0].shape[0]} channels but the model expects "
                             f"{self.channels}; pass the training channels in the same order")
        check_finite(series)
        note = self.truncation_note(series)
        if note and warn:
            warnings.warn(note, UserWarning, stacklevel=2)
        mean, std = np.asarray(self.mean)[:, None], np.asarray(self.std)[:, None]
        out = np.zeros((len(series), self.channels, self.length), dtype=np.float32)
        for i, s in enumerate(series):
            n = min(s.shape[1], self.length)
            out[i, :, :n] = (s[:, :n] - mean) / std
        return torch.from_numpy(out)

    def truncation_note(self, series: Raw) -> str | None:
        """What `apply` says of (C, L_i) series longer than the model's length, or None."""
        long = [i for i, s in enumerate(series) if s.shape[1] > self.length]
        if not long:
            return None
        return (f"{len(long)} of {len(series)} series are longer than the model length "
                f"{self.length} (up to {max(series[i].shape[1] for i in long)} steps, e.g. "
                f"samples {long[:5]}); they are truncated to their first {self.length} steps")


def _sort_labels(labels: Sequence[str]) -> list[str]:
    """Sorted unique labels: numerically when all look numeric ("2" < "10"), else as strings."""
    uniq = sorted({str(v) for v in labels})
    try:
        return sorted(uniq, key=lambda s: (float(s), s))
    except ValueError:
        return uniq


def _check_xy(series: Raw, labels: np.ndarray | None, what: str) -> None:
    if labels is None:
        raise ValueError(f"{what}: labels missing; training needs one class label per series "
                         "(.npz: a 'y' array; .ts: '@classLabel true' and a label per series)")
    if len(series) != len(labels):
        raise ValueError(f"{what}: X has {len(series)} series but y has {len(labels)} labels; "
                         "they must be the same length")
    check_finite(series, f"{what} X")


def class_indices(labels: Sequence[str], classes: Sequence[str], what: str) -> np.ndarray:
    """(N,) int64 index into `classes` of each label; a label of no class is an error.

    A label that matches no class exactly matches one that differs only in case, when just one
    class does. Why ignore case at all: one file reads as 'Standing' here (the spelling of the
    file and its '@classLabel' header) but as 'standing' through aeon's own loaders, which
    lowercase whole lines; series saved from aeon must still meet a model trained on the file.
    Classes that differ only by case (e.g. 'a' and 'A') are matched exactly.
    """
    out = _lookup(labels, classes)
    unknown = _sort_labels({str(v) for v, i in zip(labels, out) if i is None})
    if unknown:
        raise ValueError(f"{what}: labels {unknown} are not among the classes {list(classes)}")
    return np.asarray(out, dtype=np.int64)


def _lookup(labels: Sequence[str], classes: Sequence[str]) -> list[int | None]:
    """class_indices' matching: the index of each label's class, None where there is none."""
    exact = {c: i for i, c in enumerate(classes)}
    folded: dict[str, int | None] = {}
    for i, c in enumerate(classes):
        folded[c.casefold()] = i if c.casefold() not in folded else None  # None: ambiguous
    return [exact.get(v, folded.get(str(v).casefold())) for v in labels]


def _stratified_split(y: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): ~frac of each class held out, >= 1 per class kept for training."""
    rng = np.random.default_rng(seed)
    val: list[int] = []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        val += idx[: min(round(frac * len(idx)), len(idx) - 1)].tolist()
    if not val:
        raise ValueError(f"val_split={frac} holds out no series of {len(y)} (every class keeps "
                         f"at least one for training; {len(np.unique(y))} classes): use a larger "
                         "val_split, more series per class, or val_split 0")
    val_idx = np.sort(np.asarray(val))
    return np.setdiff1d(np.arange(len(y)), val_idx), val_idx


def load_series(spec: str | Path, val_split: float = 0.0, seed: int = 0
                ) -> tuple[SeriesDataset, SeriesDataset | None, SeriesPreprocess]:
    """Load a labelled series classification set: (train, test | val | None, preprocessing).

    spec: 'aeon:NAME' (shipped in aeon, with its published TRAIN/TEST split), a .npz with X
    (N, C, L) or (N, L) and y (optionally X_test/y_test), a NAME_TRAIN.ts/.arff path (its _TEST
    partner is found beside it), or a directory holding such a pair. Without a test split,
    val_split > 0 holds out a stratified seeded split; with one, val_split is ignored (warning).
    Stats are fitted on the training part only. The same spec and seed give the same arrays.
    """
    return load_series_parts(spec, val_split, seed)[:3]


def load_series_parts(spec: str | Path, val_split: float = 0.0, seed: int = 0
                      ) -> tuple[SeriesDataset, SeriesDataset | None, SeriesPreprocess, bool]:
    """`load_series`, and whether the second set is the spec's own (published) test split."""
    if not 0.0 <= val_split < 1.0:
        raise ValueError(f"val_split must be in [0, 1); got {val_split}")
    xtr, ytr, xte, yte = read_spec(spec)
    published = xte is not None
    _check_xy(xtr, ytr, "train")
    classes = _sort_labels(ytr)
    if len(classes) < 2:
        raise ValueError(f"only one class ({classes[0]!r}) in the training labels; "
                         "classification needs at least 2 classes")
    y_train = class_indices(ytr, classes, "train")
    if xte is not None:
        _check_xy(xte, yte, "test")
        y_test = class_indices(yte, classes, "the test split has classes absent from training")
        if val_split > 0:
            warnings.warn("val_split is ignored: this spec has its own test split", stacklevel=2)
    elif val_split > 0:
        tr, va = _stratified_split(y_train, val_split, seed)
        xtr, xte, y_train, y_test = [xtr[i] for i in tr], [xtr[i] for i in va], y_train[tr], \
            y_train[va]
    prep = SeriesPreprocess.fit(xtr)
    train = SeriesDataset(prep.apply(xtr), torch.from_numpy(y_train), classes)
    if xte is None:
        return train, None, prep, False
    test = SeriesDataset(prep.apply(xte), torch.from_numpy(y_test), classes)
    return train, test, prep, published


def is_series_spec(spec: str | Path | None) -> bool:
    """True for 'aeon:NAME', .npz/.npy/.ts/.arff/.csv files and folders of NAME_TRAIN.ts."""
    if spec is None:
        return False
    text = str(spec)
    if text.startswith("aeon:"):
        return True
    path = Path(text)
    if path.suffix.lower() in SERIES_SUFFIXES:
        return True
    return path.is_dir() and any(path.glob("*_TRAIN.ts")) or path.is_dir() and any(
        path.glob("*_TRAIN.arff"))


def labelled_series(spec: str | Path, preprocess: SeriesPreprocess | dict, classes: Sequence[str],
                    split: str = "eval", trained: dict | None = None) -> SeriesDataset:
    """A model's labelled series: its own statistics and class order, never refitted.

    split 'eval': the spec's test split; without one, the series the model's run held out when
    `trained` (the model's provenance, given when spec is the data it was trained on) records
    its val_split and seed, else the whole file. 'train': the training split (the rest of the
    file, without a test split). Labels the model does not know are an error naming them. The
    result's `split_name` says which series these are.
    """
    xtr, ytr, xte, yte = read_spec(spec)
    if xte is not None:
        x, y = (xtr, ytr) if split == "train" else (xte, yte)
        name = f"{spec} ({'training' if split == 'train' else 'test'} split)"
    else:
        x, y, name = xtr, ytr, whole_name(spec, "series", trained if split != "train" else None)
    _check_xy(x, y, split)
    idx = class_indices(y, classes, str(spec))
    held = recorded_split(trained) if xte is None else None
    if held is not None:
        tr, va = _stratified_split(idx, *held)
        keep = tr if split == "train" else va
        x, idx, name = [x[i] for i in keep], idx[keep], held_out_name(spec, held[0], "data", split)
    prep = preprocess if isinstance(preprocess, SeriesPreprocess) else \
        SeriesPreprocess.from_dict(preprocess)
    ds = SeriesDataset(prep.apply(x), torch.from_numpy(idx), classes)
    ds.split_name = name
    return ds
