"""The labelled data a trained model is evaluated (or calibrated) on, preprocessed its way."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from .digits import digits
from .images import DataConfig, labelled_images
from .series import labelled_series


def labelled_split(preprocess: dict, classes: list[str], data: str | Path | None,
                   trained_on: dict | str | None, split: str = "eval") -> Dataset:
    """Items (x, label, index) for a model whose model file records `preprocess` and `classes`.

    data: an ImageFolder root (split 'eval': its val/ or test/ subfolder when present, else the
    images the model's run held out of it when it is the folder the model was trained on, else
    all of it; 'train': the rest), a series spec, or None for the data the model was trained
    on (series) or the bundled digits (test or train split), which is allowed only when the
    model was trained on them. trained_on: the model file's provenance ('data', and the run's
    'val_split' and 'seed'), or just its 'data' (then no held-out split is known). The result's
    `split_name` names what it holds, e.g. "DIR (held-out 10% of the training folder)".
    """
    provenance = trained_on if isinstance(trained_on, dict) else {"data": trained_on}
    source = provenance.get("data")
    if preprocess.get("kind") == "series":
        if data is None:
            data = source
        if data is None:
            raise ValueError("--data is required: e.g. aeon:BasicMotions or a .npz file")
        trained = provenance if same_data(data, source) else None
        return labelled_series(data, preprocess, classes, split, trained)
    size = preprocess["input_size"][0]
    if data is None:
        return _digits(preprocess, classes, size, source, split)
    cfg = DataConfig(img_size=size, normalize=preprocess.get("normalize", "tf"), augment=False,
                     resize_ratio=preprocess.get("resize_ratio", 0.875))
    trained = provenance if same_data(data, source) else None
    return labelled_images(data, classes, cfg, preprocess.get("in_chans", 3), split, trained)


def same_data(data: str | Path, trained_on: str | Path | None) -> bool:
    """True when `data` names what the model was trained on: the same spec ('aeon:NAME') or the
    same file or folder (paths compared resolved, from the current directory)."""
    if trained_on is None:
        return False
    if str(data) == str(trained_on):
        return True
    if ":" in str(trained_on) and not Path(str(trained_on)).exists():
        return False  # a spec such as aeon:NAME, not a path
    return Path(data).resolve() == Path(trained_on).resolve()


def _digits(preprocess: dict, classes: list[str], size: int, trained_on: str | None,
            split: str) -> Dataset:
    if trained_on is not None:
        raise ValueError(f"--data is required: this model was trained on {trained_on}, "
                         "not on the bundled digits")
    if preprocess.get("in_chans", 1) != 1 or classes != [str(i) for i in range(10)]:
        raise ValueError("--data is required: this model was not trained on the bundled "
                         "digits (it needs its own labelled images)")
    train, test = digits(size)
    ds = train if split == "train" else test
    ds.split_name = f"digits {'train' if split == 'train' else 'test'} split"
    return ds
