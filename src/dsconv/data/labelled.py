"""The labelled data a trained model is evaluated (or calibrated) on, preprocessed its way."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from .digits import digits
from .images import DataConfig, labelled_images
from .series import labelled_series


def labelled_split(preprocess: dict, classes: list[str], data: str | Path | None,
                   trained_on: str | None, split: str = "eval") -> Dataset:
    """Items (x, label, index) for a model whose model file records `preprocess` and `classes`.

    data: an ImageFolder root (split 'eval': its val/ or test/ subfolder when present, else the
    root; 'train': its train/), or None for the bundled digits (test or train split), which
    is allowed only when the model was trained on them (`trained_on` is None).
    """
    if preprocess.get("kind") == "series":
        if data is None:
            data = trained_on
        if data is None:
            raise ValueError("--data is required: e.g. aeon:BasicMotions or a .npz file")
        return labelled_series(data, preprocess, classes, split)
    size = preprocess["input_size"][0]
    if data is None:
        if trained_on is not None:
            raise ValueError(f"--data is required: this model was trained on {trained_on}, "
                             "not on the bundled digits")
        if preprocess.get("in_chans", 1) != 1 or classes != [str(i) for i in range(10)]:
            raise ValueError("--data is required: this model was not trained on the bundled "
                             "digits (it needs its own labelled images)")
        train, test = digits(size)
        return train if split == "train" else test
    cfg = DataConfig(img_size=size, normalize=preprocess.get("normalize", "tf"), augment=False,
                     resize_ratio=preprocess.get("resize_ratio", 0.875))
    return labelled_images(data, classes, cfg, preprocess.get("in_chans", 3), split)
