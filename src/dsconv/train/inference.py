"""Use a trained model: `evaluate` on labelled data, `predict` files, from any model file.

The file is a dsconv model file, a Keras file (ImageNet class names when it has 1000 classes)
or, for predict, an ONNX file written by `dsconv export` (its metadata carries the classes and
the preprocessing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..data import (
    DataConfig,
    ImageFolder,
    SeriesPreprocess,
    labelled_split,
    read_series_file,
    sample_generator,
)
from ..deploy import onnx_metadata, onnx_session
from ..weights import ModelMeta, load_model, sniff_format
from ..weights.modelfile import parse_meta
from .metrics import run_eval, write_eval_reports


def load_runner(weights: str | Path, model: str | None = None, **overrides
                ) -> tuple[Callable[[torch.Tensor], torch.Tensor], ModelMeta]:
    """(inputs -> logits, meta) for a dsconv, Keras or ONNX model file."""
    if sniff_format(weights) == "onnx":
        meta = parse_meta(onnx_metadata(weights), str(weights))
        return onnx_session(weights), meta
    net, meta = load_model(weights, model, **overrides)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(x)

    return run, meta


def evaluate(weights: str | Path, data: str | Path | None = None, out: str | Path | None = None,
             batch_size: int = 128, workers: int = 2, model: str | None = None,
             **overrides) -> dict:
    """Top-1/top-5/per-class accuracy and confusion matrix of a model file.

    data: an ImageFolder root (its val/ or test/ subfolder if present), or None for the
    digits test split when the model was trained on the bundled digits. Reports (CSV, PNG)
    go to `out` (default: beside the weights). Returns the figures and `split`, the name of
    what was measured.
    """
    net, meta = load_model(weights, model, **overrides)
    classes = meta.classes or [str(i) for i in range(meta.config["num_classes"])]
    dataset = labelled_split(meta.preprocess, classes, data, meta.provenance.get("data"))
    metrics = run_eval(net, dataset, len(classes), batch_size, workers if data else 0)
    report_dir = Path(out) if out else Path(weights).parent / "eval"
    metrics["reports"] = [str(p) for p in write_eval_reports(metrics, classes, report_dir)]
    metrics["classes"] = classes
    source = data or meta.provenance.get("data")
    metrics["split"] = "digits test split" if source is None else str(source)
    metrics["unit"] = "series" if meta.preprocess.get("kind") == "series" else "images"
    if hasattr(dataset, "samples"):
        metrics["skipped"] = [str(dataset.samples[i][0]) for i in metrics["skipped"]]
    return metrics


def predict(weights: str | Path, images: list[str | Path], top: int = 5,
            model: str | None = None, **overrides) -> list[dict]:
    """Per input: {'image', 'top': [(class, probability), ...]} or {'image', 'error': why}.

    Image models take image files; series models take series files (.npz, .npy, .csv, .ts:
    one result per series, named FILE[i]). A missing or unreadable file gets its error and the
    others are still predicted.
    """
    run, meta = load_runner(weights, model, **overrides)
    classes = meta.classes or [str(i) for i in range(meta.config.get("num_classes", 0))]
    inputs = _series_inputs if meta.preprocess.get("kind") == "series" else _image_inputs
    results = []
    for name, x, error in inputs(meta.preprocess, classes, images):
        if error is not None:
            results.append({"image": name, "error": error})
            continue
        probs = run(x[None]).float().softmax(1)[0]
        p, idx = probs.topk(min(top, len(classes)))
        results.append({"image": name,
                        "top": [(classes[j], float(q)) for q, j in zip(p.tolist(), idx.tolist())]})
    return results


def _image_inputs(pre: dict, classes: list[str], paths: list):
    """(name, x (C, S, S) or None, error or None) per image file."""
    cfg = DataConfig(img_size=pre["input_size"][0], normalize=pre.get("normalize", "tf"),
                     augment=False, resize_ratio=pre.get("resize_ratio", 0.875))
    ds = ImageFolder([(Path(p), 0) for p in paths], classes, cfg, train=False,
                     in_chans=pre.get("in_chans", 3))
    for i, path in enumerate(paths):
        if not Path(path).is_file():
            yield str(path), None, "file not found"
            continue
        try:
            yield str(path), ds.load(i, sample_generator(0, 0, i)), None
        except Exception as err:  # noqa: BLE001 - any decoder failure: report, go on
            yield str(path), None, f"unreadable image ({err})"


def _series_inputs(pre: dict, classes: list[str], paths: list):
    """(FILE[i], x (C, L) or None, error or None) per series in each file."""
    prep = SeriesPreprocess.from_dict(pre)
    for path in paths:
        if not Path(path).is_file():
            yield str(path), None, "file not found"
            continue
        try:
            x = prep.apply(read_series_file(path)[0])
        except (ValueError, OSError) as err:
            yield str(path), None, f"unreadable series ({err})"
            continue
        for i, xi in enumerate(x):
            yield f"{path}[{i}]", xi, None
