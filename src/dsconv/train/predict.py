"""Use a trained model: `evaluate` on a labelled set, `predict` image files."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from ..data import DataConfig, ImageFolder, digits, find_images
from ..io import load_weights
from ..models import create_model
from .checkpoint import read_model_metadata
from .evaluate import run_eval, write_eval_reports


def load_trained(weights: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the model a `dsconv train` weights file was made with; (model in eval, info)."""
    if not Path(weights).is_file():
        raise FileNotFoundError(f"weights file not found: {weights}")
    info = read_model_metadata(weights)
    model = create_model(info["model"], **info["model_kwargs"])
    load_weights(model, weights)
    return model.eval(), info


def labelled_split(info: dict, data: str | Path | None, split: str = "eval") -> Dataset:
    """Labelled images for a trained model (its metadata `info`), preprocessed as in training.

    split 'eval': root/val or root/test when present, else root; 'train': root/train when
    present, else root. data=None means the bundled digits (test or train split), allowed
    only when the model was trained on them.
    """
    if data is None:
        if info.get("data") is not None:
            raise ValueError("--data is required: this model was trained on "
                             f"{info['data']}, not on the bundled digits")
        train, test = digits(info["img_size"])
        return train if split == "train" else test
    root = Path(data)
    for sub in ("train",) if split == "train" else ("val", "test"):
        if (root / sub).is_dir():
            root = root / sub
            break
    samples, found = find_images(root)
    if found != info["classes"]:
        raise ValueError(f"{root}: classes {found} differ from the model's {info['classes']}")
    cfg = DataConfig(img_size=info["img_size"], normalize=info["normalize"], augment=False)
    return ImageFolder(samples, info["classes"], cfg, train=False, in_chans=info["in_chans"])


def evaluate(weights: str | Path, data: str | Path | None = None, out: str | Path | None = None,
             batch_size: int = 128, workers: int = 2) -> dict:
    """Top-1/top-5/per-class accuracy and confusion matrix of a trained model.

    data: an ImageFolder root (its val/ or test/ subfolder if present), or None for the
    digits test split when the model was trained on the bundled digits. Reports (CSV, PNG)
    go to `out` (default: beside the weights).
    """
    model, info = load_trained(weights)
    classes = info["classes"]
    dataset = labelled_split(info, data, "eval")
    metrics = run_eval(model, dataset, len(classes), batch_size, workers if data else 0)
    report_dir = Path(out) if out else Path(weights).parent / "eval"
    metrics["reports"] = [str(p) for p in write_eval_reports(metrics, classes, report_dir)]
    metrics["classes"] = classes
    if data is not None:
        metrics["skipped"] = [str(dataset.samples[i][0]) for i in metrics["skipped"]]
    return metrics


def predict(weights: str | Path, images: list[str | Path], top: int = 5
            ) -> list[dict]:
    """Top-k (class name, probability) for each image file."""
    model, info = load_trained(weights)
    classes = info["classes"]
    cfg = DataConfig(img_size=info["img_size"], normalize=info["normalize"], augment=False)
    ds = ImageFolder([(Path(p), 0) for p in images], classes, cfg, train=False,
                     in_chans=info["in_chans"])
    results = []
    for i, path in enumerate(images):
        if not Path(path).is_file():
            raise FileNotFoundError(f"image not found: {path}")
        x, _, _ = ds[i]
        if x is None:
            results.append({"image": str(path), "error": "unreadable image"})
            continue
        with torch.no_grad():
            probs = model(x[None]).softmax(1)[0]
        p, idx = probs.topk(min(top, len(classes)))
        results.append({"image": str(path),
                        "top": [(classes[j], float(q)) for q, j in zip(p.tolist(), idx.tolist())]})
    return results
