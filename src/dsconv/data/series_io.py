"""Raw input for dsconv's series data: files, aeon's shipped sets, validation.

Everything here returns raw series (a list of (C, L_i) float64 arrays) and string labels; the
preprocessing (standardise, pad/truncate) lives in series.py. aeon is imported lazily and only
its local-file parsers are called (load_from_ts_file, load_from_arff_file on exact paths), so
nothing here downloads. aeon's .ts parser lowercases labels; the header's spelling is restored.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

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
    """Labels -> 1-D str array; integral floats drop '.0' so 1.0 and 1 name the same class."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{what} must be 1-D (one label per series); got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"{what} contains NaN/inf labels; every series needs a class label")
        if (y == np.round(y)).all():
            y = y.astype(np.int64)
    return np.array([str(v) for v in y.tolist()], dtype=str)


def _ts_header(path: Path) -> dict[str, list[str]]:
    """'@key tokens...' lines of a .ts header: key lowercased, tokens in their original case."""
    head: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            tokens = line.split()
            if tokens and tokens[0].lower() == "@data":
                break
            if tokens and tokens[0].startswith("@"):
                head[tokens[0][1:].lower()] = tokens[1:]
    return head


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
        if test.is_file() and _ts_header(train).get("classlabel", [""])[0].lower() == "true":
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


def read_series_file(path: str | Path) -> tuple[Raw, np.ndarray | None]:
    """Raw series (list of (C, L_i) float64) and str labels (or None) from one file.

    .npz: 'X' (+ optional 'y'); .npy: an (N, C, L) or (N, L) array; .ts/.arff: via aeon.
    .csv: ONE multi-sensor series per file, rows = time steps, columns = channels (as sensor
    loggers export), an optional non-numeric header row, no labels. Many series: use .npy/.npz.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix, labels = path.suffix.lower(), None
    if suffix == ".npz":
        data = _read_npz(path)
        series = as_series_list(data["X"])
        labels = label_strings(data["y"]) if "y" in data else None
    elif suffix == ".npy":
        series = as_series_list(np.load(path, allow_pickle=False))
    elif suffix == ".csv":
        with open(path, encoding="utf-8") as f:
            first = f.readline().split(",")
        try:
            [float(c) for c in first]
            skip = 0
        except ValueError:
            skip = 1  # a header row
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)  # (L, C)
        series = as_series_list([table.T])
    elif suffix in (".ts", ".arff"):
        try:
            from aeon.datasets import load_from_arff_file, load_from_ts_file
        except ImportError as e:
            raise ImportError(f"reading .ts/.arff files needs aeon: {_AEON_HINT}") from e
        if suffix == ".ts":
            x, y, meta = load_from_ts_file(str(path), return_meta_data=True)
            # aeon lowercases each line (and writes "nan" as "NaN"): restore the header spelling
            if meta["classlabel"] and len(y):
                orig = {v.lower(): v for v in _ts_header(path).get("classlabel", [])[1:]}
                labels = np.array([orig.get(v.lower(), v) for v in label_strings(y)], dtype=str)
        else:
            x, y = load_from_arff_file(str(path))
            labels = label_strings(y) if len(y) else None
        series = as_series_list(x)
    else:
        raise ValueError(f"{path}: unsupported file type '{suffix}'; use .npz, .npy, .ts, .arff "
                         "or .csv")
    return series, labels


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
