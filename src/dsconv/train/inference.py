"""Use a trained model: `evaluate` on labelled data, `predict` files, from any model file.

The file is a dsconv model file, a Keras file (ImageNet class names when it has 1000 classes)
or, for predict, an ONNX file written by `dsconv export` (its metadata carries the classes and
the preprocessing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..data import DataConfig, ImageFolder, labelled_split, sample_generator
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
    metrics["split"] = "digits test split" if data is None else str(getattr(
        dataset, "root", data))
    if data is not None:
        metrics["skipped"] = [str(dataset.samples[i][0]) for i in metrics["skipped"]]
    return metrics


def predict(weights: str | Path, images: list[str | Path], top: int = 5,
            model: str | None = None, **overrides) -> list[dict]:
    """Per file: {'image', 'top': [(class, probability), ...]} or {'image', 'error': why}.

    A missing or unreadable file gets its error and the others are still predicted.
    """
    run, meta = load_runner(weights, model, **overrides)
    pre = meta.preprocess
    if pre.get("kind", "image") != "image":
        raise ValueError(f"{weights} is a {pre.get('kind')} model: predict takes its files "
                         "through the series loader")
    classes = meta.classes or [str(i) for i in range(meta.config.get("num_classes", 0))]
    cfg = DataConfig(img_size=pre["input_size"][0], normalize=pre.get("normalize", "tf"),
                     augment=False, resize_ratio=pre.get("resize_ratio", 0.875))
    ds = ImageFolder([(Path(p), 0) for p in images], classes, cfg, train=False,
                     in_chans=pre.get("in_chans", 3))
    results = []
    for i, path in enumerate(images):
        if not Path(path).is_file():
            results.append({"image": str(path), "error": "file not found"})
            continue
        try:
            x = ds.load(i, sample_generator(0, 0, i))
        except Exception as err:  # noqa: BLE001 - any decoder failure: report, go on
            results.append({"image": str(path), "error": f"unreadable image ({err})"})
            continue
        probs = run(x[None]).float().softmax(1)[0]
        p, idx = probs.topk(min(top, len(classes)))
        results.append({"image": str(path),
                        "top": [(classes[j], float(q)) for q, j in zip(p.tolist(), idx.tolist())]})
    return results
