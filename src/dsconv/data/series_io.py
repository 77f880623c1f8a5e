"""Raw input for dsconv's series data: files, aeon's shipped sets, validation.

Everything here returns raw series (a list of (C, L_i) float64 arrays) and string labels; the
preprocessing (standardise, pad/truncate) lives in series.py. .ts files are read by ts_file.py
(errors name the file and line; labels keep the file's spelling, where aeon's parser lowercases
them). aeon is imported lazily and only its local .arff parser is called (on an exact path), so
nothing here downloads; aeon's shipped sets are found without importing it.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .ts_file import is_number, read_header, read_ts

_AEON_HINT = "pip install 'dsconv[series]'"
Raw = list[np.ndarray]  # raw series, each (C, L_i) float64


def as_series_list(x: np.ndarray | Sequence[np.ndarray], what: str = "X") -> Raw:
    """(N, C, L) / (N, L) array or a list of (C, L_i) / (L_i,) arrays -> list of (C, L_i)."""
    ragged = not isinstance(x, np.ndarray) or x.dtype == object
    try:
        data = [np.asarray(s, np.float64) for s in x] if ragged else np.asarray(x, np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must hold numbers: {e}") from e
    if not ragged:
        data = data[:, None, :] if data.ndim == 2 else data  # univariate (N, L)
        if data.ndim != 3:
            raise ValueError(f"{what} must have shape (N, C, L), or (N, L) for univariate series;"
                             f" got a {data.ndim}-D array of shape {data.shape}. Reshape it first")
    series = [s[None, :] if s.ndim == 1 else s for s in data]
    bad = [s.shape for s in series if s.ndim != 2]
    if bad:
        raise ValueError(f"each series in {what} must be (C, L) or (L,); got shapes like {bad[0]}")
    if not series or min(s.shape[1] for s in series) == 0:
        raise ValueError(f"{what} is empty (no series, or a series with 0 time steps)")
    if len({s.shape[0] for s in series}) > 1:
        raise ValueError(f"{what}: series have different channel counts "
                         f"{sorted({s.shape[0] for s in series})}")
    return series


def check_finite(series: Raw, what: str = "X") -> None:
    """Refuse NaN/inf (no silent imputation), naming how many and in which samples."""
    bad = {i: int((~np.isfinite(s)).sum()) for i, s in enumerate(series)
           if not np.isfinite(s).all()}
    if bad:
        idx = list(bad)
        raise ValueError(f"{what} contains {sum(bad.values())} NaN/inf values in {len(idx)} "
                         f"series (sample indices {idx[:10]}{' ...' if len(idx) > 10 else ''}); "
                         "missing values are not imputed: fill them (e.g. interpolate) or drop "
                         "those samples before loading")


def label_strings(y: object, what: str = "y") -> np.ndarray:
    """Labels -> 1-D str array; integral floats drop '.0' so 1.0 and 1 name the same class.

    Floats that are not whole numbers are refused: they look like regression targets, and as
    class names each value would be a class of its own.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one label per series); got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"{what} contains NaN/inf labels; every series needs a class label")
        frac = y[y != np.round(y)]
        if frac.size:
            raise ValueError(
                f"{what} looks continuous (regression targets): {frac.size} of {y.size} labels "
                f"are not whole numbers (e.g. {', '.join(f'{v:.4g}' for v in frac[:3])}; "
                f"{len(np.unique(y))} distinct "
                "values); dsconv trains classifiers: give integer or string class labels (if "
                f"these floats are class names, store them as strings: {what}.astype(str))")
        y = y.astype(np.int64)
    return np.array([str(v) for v in y.tolist()], dtype=str)


@functools.lru_cache(maxsize=1)
def aeon_index() -> dict[str, tuple[Path, Path]]:
    """NAME -> (train, test) for each shipped .ts pair whose header says '@classLabel true'."""
    # find_spec locates the installed package without importing it (that takes ~1.5 s)
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"aeon data sets need the aeon package: {_AEON_HINT}")
    root = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    index = {}
    for train in sorted(root.glob("*/*_TRAIN.ts")):
        name = train.name[: -len("_TRAIN.ts")]
        test = train.with_name(f"{name}_TEST.ts")
        with open(train, encoding="utf-8-sig") as f:
            try:
                labelled = read_header(train, f).labelled
            except ValueError:
                continue  # not a .ts file dsconv can read: not offered
        if test.is_file() and labelled:
            index[name] = (train, test)
    return index


def list_aeon_datasets() -> list[str]:
    """The classification sets (TRAIN/TEST .ts pairs) shipped inside aeon's wheel."""
    return sorted(aeon_index(), key=str.lower)


def _read_npz(path: Path, required: Sequence[str] = ("X",)) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:  # no pickle: a data file must not run code
        data = {k: z[k] for k in z.files}
    for k in (*required, "y_test") if "X_test" in data else required:
        if k not in data:
            what = "labels missing" if k.startswith("y") else "wrong keys"
            raise ValueError(f"{path}: {what}: no array '{k}'; found keys {sorted(data)}. Expected "
                             "'X' (N, C, L) or (N, L) and 'y' (N,), optionally 'X_test'/'y_test' "
                             "(np.savez(path, X=X, y=y))")
    return data


SERIES_SUFFIXES = (".npz", ".npy", ".ts", ".arff", ".csv")


def read_series_file(path: str | Path, with_labels: bool = True
                     ) -> tuple[Raw, np.ndarray | None]:
    """Raw series (list of (C, L_i) float64) and str labels (or None) from one file.

    .npz: 'X' (+ optional 'y'); .npy: an (N, C, L) or (N, L) array; .ts: ts_file.read_ts;
    .arff: via aeon. .csv: ONE multi-sensor series per file, rows = time steps, columns =
    channels (as sensor loggers export), an optional non-numeric header row, no labels. Many
    series: use .npy/.npz. with_labels=False skips the labels (for prediction): a file's labels
    are then neither read nor checked.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix, labels = path.suffix.lower(), None
    if suffix == ".npz":
        data = _read_npz(path)
        series = as_series_list(data["X"])
        labels = label_strings(data["y"]) if "y" in data and with_labels else None
    elif suffix == ".npy":
        series = as_series_list(np.load(path, allow_pickle=False))
    elif suffix == ".csv":
        series = as_series_list([_read_csv(path).T])
    elif suffix == ".ts":
        series, labels = _read_ts(path, with_labels)
    elif suffix == ".arff":
        series, labels = _read_arff(path)
    else:
        raise ValueError(f"{path}: unsupported file type '{suffix}'; use "
                         f"{', '.join(SERIES_SUFFIXES)}")
    return series, labels if with_labels else None


def _read_csv(path: Path) -> np.ndarray:
    """(L, C) table of a .csv series, skipping one non-numeric header row."""
    with open(path, encoding="utf-8") as f:
        first = f.readline().split(",")
    try:
        [float(c) for c in first]
        skip = 0
    except ValueError:
        skip = 1  # a header row
    try:
        return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except ValueError as err:  # numpy names the row (after the header) and column
        raise ValueError(f"{path}: {err} (rows are time steps of ','-separated numbers, one "
                         "column per channel)") from None


def _read_ts(path: Path, with_labels: bool) -> tuple[Raw, np.ndarray | None]:
    series, labels, head = read_ts(path, check_labels=with_labels)
    if with_labels and head.flags.get("targetlabel"):
        raise ValueError(f"{path}: '@targetLabel true' marks a regression file (a number to "
                         "predict per series); dsconv trains classifiers: use a file with "
                         "'@classLabel true LABEL1 LABEL2 ...'")
    return as_series_list(series, str(path)), None if labels is None else np.array(labels, str)


def _read_arff(path: Path) -> tuple[Raw, np.ndarray | None]:
    """A Weka .arff series file via aeon; a failure names the file and the first bad line."""
    try:
        from aeon.datasets import load_from_arff_file
    except ImportError as e:
        raise ImportError(f"reading .arff files needs aeon: {_AEON_HINT}") from e
    try:
        x, y = load_from_arff_file(str(path))
    except (ValueError, IndexError, OSError) as err:
        raise ValueError(f"{path}: {_arff_bad_line(path) or err}") from None
    return as_series_list(x, str(path)), label_strings(y) if len(y) else None


def _arff_bad_line(path: Path) -> str | None:
    """'line N: ...' for the first data line whose values (all but the last field, the class)
    are not numbers, or None. Multivariate lines are 'v,v\\nv,v',label."""
    data = False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            text = line.strip()
            if not data or not text or text.startswith("%"):
                data = data or text.lower().startswith("@data")
                continue
            if "," not in text:
                return f"line {n}: expected values and then ',LABEL'; got {text[:40]!r}"
            values = text.rsplit(",", 1)[0].strip("'").replace("\\n", ",").split(",")
            bad = [v for v in values if v.strip() != "?" and not is_number(v)]
            if bad:
                return (f"line {n}: {bad[0].strip()!r} is not a number (each line is the "
                        "','-separated values, then ',LABEL'; '?' marks a missing value)")
    return None


def _train_test_files(path: Path) -> tuple[Path, Path | None]:
    """A NAME_TRAIN.ts/.arff file (or a directory holding one) and its _TEST partner beside it."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.name.endswith(("_TRAIN.ts", "_TRAIN.arff")))
        if len({p.name.rsplit("_TRAIN", 1)[0] for p in found}) != 1:
            raise ValueError(f"{path}: expected one NAME_TRAIN.ts/.arff file, found "
                             f"{[p.name for p in found]}; pass the file path instead")
        path = next((p for p in found if p.suffix == ".ts"), found[0])  # .ts allows ragged data
    if not path.stem.endswith("_TRAIN"):
        return path, None
    name = path.stem[: -len("_TRAIN")]
    for suffix in (path.suffix, ".ts", ".arff"):
        if (test := path.with_name(f"{name}_TEST{suffix}")).is_file():
            return path, test
    warnings.warn(f"no {name}_TEST.ts/.arff beside {path}: no test split", stacklevel=4)
    return path, None


def read_spec(spec: str | Path) -> tuple[Raw, np.ndarray | None, Raw | None, np.ndarray | None]:
    """spec -> (train series, train labels, test series or None, test labels or None)."""
    spec = str(spec)
    if spec.startswith("aeon:"):
        name, index = spec[len("aeon:"):], aeon_index()
        if name not in index:
            close = difflib.get_close_matches(name, list(index), n=1, cutoff=0.5)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"'{name}' is not a classification data set shipped inside aeon."
                             f"{hint} Shipped: {list_aeon_datasets()}")
        return (*read_series_file(index[name][0]), *read_series_file(index[name][1]))
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    if path.suffix.lower() == ".npz":
        d = _read_npz(path, ("X", "y"))
        test = (as_series_list(d["X_test"], "X_test"), label_strings(d["y_test"], "y_test")
                ) if "X_test" in d else (None, None)
        return as_series_list(d["X"]), label_strings(d["y"]), *test
    if path.is_dir() or path.suffix.lower() in (".ts", ".arff"):
        train, test = _train_test_files(path)
        return (*read_series_file(train), *(read_series_file(test) if test else (None, None)))
    raise ValueError(f"unsupported spec '{spec}': use 'aeon:NAME' (see list_aeon_datasets()), "
                     "a .npz with X/y, a NAME_TRAIN.ts/.arff file, or a directory holding one")
