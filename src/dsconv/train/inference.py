"""Use a trained model: `evaluate` on labelled data, `predict` files, from any model file.

The file is a dsconv model file, a Keras file (ImageNet class names when it has 1000 classes)
or, for predict, an ONNX file written by `dsconv export` (its metadata carries the classes and
the preprocessing).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ..data import (
    IMAGE_EXTENSIONS,
    SERIES_SUFFIXES,
    DataConfig,
    ImageFolder,
    SeriesPreprocess,
    as_series_list,
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

    data: an ImageFolder root (its val/ or test/ subfolder if present; else, when it is the
    folder the model was trained on, the images its run held out, as recorded in the model
    file), a series spec (aeon:NAME, a .npz, a NAME_TRAIN.ts/.arff), or None for the data the
    model was trained on (series) or the digits test split. Reports (CSV, PNG) go to `out`
    (default: beside the weights). Returns the figures and `split`, the name of what was
    measured (e.g. "DIR (held-out 10% of the training folder)").
    """
    net, meta = load_model(weights, model, **overrides)
    classes = meta.classes or [str(i) for i in range(meta.config["num_classes"])]
    dataset = labelled_split(meta.preprocess, classes, data, meta.provenance)
    metrics = run_eval(net, dataset, len(classes), batch_size, workers if data else 0)
    report_dir = Path(out) if out else Path(weights).parent / "eval"
    metrics["reports"] = [str(p) for p in write_eval_reports(metrics, classes, report_dir)]
    metrics["classes"] = classes
    metrics["split"] = getattr(dataset, "split_name", str(data))
    metrics["unit"] = "series" if meta.preprocess.get("kind") == "series" else "images"
    if hasattr(dataset, "samples"):
        metrics["skipped"] = [str(dataset.samples[i][0]) for i in metrics["skipped"]]
    return metrics


Inputs = str | Path | Sequence[str | Path] | torch.Tensor | np.ndarray


def predict(weights: str | Path, inputs: Inputs, top: int = 5, model: str | None = None,
            **overrides) -> list[dict]:
    """The top classes of each input: [{'input', 'top': [(class, probability), ...]}, ...].

    inputs, one of:
    * paths (one, or a list): image files for an image model; series files (.npz, .npy, .csv,
      .ts, .arff: one result per series, named FILE[i]) for a series model; folders, whose
      files of that kind are predicted (sorted, subfolders too, hidden files skipped).
    * a torch.Tensor or np.ndarray batch of raw inputs, results named input[0], input[1], ...
      Image model: (N, C, H, W) or (N, H, W, C) pixels in [0, 255] (uint8 or float; C = 1 or
      3, converted to the model's channels; (N, H, W) too for a 1-channel model); floats are
      rounded to 8 bits, as files hold them, then cropped, resized and scaled exactly as an
      image file is. Series model: (N, C, L) or (N, L) raw values (not standardised), which
      get the model's standardisation and are padded or truncated to its length.
    Each result also has 'image' (= 'input', the name older code reads); a file or folder
    that cannot be used gets {'input', 'error': why} and the others are still predicted; a
    series longer than the model's length gets 'note' (it was truncated), and results from a
    file have 'file'.
    """
    run, meta = load_runner(weights, model, **overrides)
    classes = meta.classes or [str(i) for i in range(meta.config.get("num_classes", 0))]
    results = []
    for entry, x in _inputs(meta.preprocess, classes, inputs):
        entry = {"input": entry["input"], "image": entry["input"], **entry}
        if x is not None:
            probs = run(x[None]).float().softmax(1)[0]
            p, idx = probs.topk(min(top, len(classes)))
            entry["top"] = [(classes[j], float(q)) for q, j in zip(p.tolist(), idx.tolist())]
        results.append(entry)
    return results


def write_predictions_csv(results: list[dict], path: str | Path) -> Path:
    """One row per result: input, top1, prob1, top2, prob2, ... (as many as the longest top
    list), then note and error (empty when none). Returns the path."""
    k = max((len(r.get("top", [])) for r in results), default=0)
    head = ["input", *[f"{w}{i}" for i in range(1, k + 1) for w in ("top", "prob")], "note",
            "error"]
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        for r in results:
            pairs = [v for c, p in r.get("top", []) for v in (c, f"{p:.6f}")]
            pairs += [""] * (2 * k - len(pairs))
            writer.writerow([r["input"], *pairs, r.get("note", ""), r.get("error", "")])
    return path


def _inputs(pre: dict, classes: list[str], inputs: Inputs):
    """(result entry, x or None) per input: x (C, S, S) or (C, L), preprocessed."""
    series = pre.get("kind") == "series"
    if isinstance(inputs, torch.Tensor | np.ndarray):
        arr = inputs
        if isinstance(inputs, torch.Tensor):  # numpy has no bfloat16: widen floats first
            t = inputs.detach().cpu()
            arr = (t.double() if t.is_floating_point() else t).numpy()
        yield from (_series_array if series else _image_array)(pre, classes, arr)
        return
    paths = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    kinds = SERIES_SUFFIXES if series else tuple(sorted(IMAGE_EXTENSIONS))
    files = _expand(paths, kinds, "series files" if series else "image files")
    yield from (_series_inputs if series else _image_inputs)(pre, classes, files)


def _expand(paths: list, suffixes: tuple[str, ...], what: str) -> list[tuple[str, str | None]]:
    """(path, error or None) per file: a folder becomes its files with those suffixes (sorted,
    recursive, hidden ones skipped), or one error when it has none."""
    out = []
    for path in map(Path, paths):
        if not path.is_dir():
            out.append((str(path), None if path.is_file() else "file not found"))
            continue
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                       and not any(s.startswith(".") for s in p.relative_to(path).parts))
        out += [(str(p), None) for p in found] or [
            (str(path), f"this folder holds no {what} ({', '.join(suffixes)})")]
    return out


def _image_cfg(pre: dict) -> DataConfig:
    return DataConfig(img_size=pre["input_size"][0], normalize=pre.get("normalize", "tf"),
                      augment=False, resize_ratio=pre.get("resize_ratio", 0.875))


def _image_inputs(pre: dict, classes: list[str], files: list[tuple[str, str | None]]):
    """(entry, x (C, S, S) or None) per image file."""
    ds = ImageFolder([(Path(p), 0) for p, _ in files], classes, _image_cfg(pre), train=False,
                     in_chans=pre.get("in_chans", 3))
    for i, (path, error) in enumerate(files):
        if error is not None:
            yield {"input": path, "error": error}, None
            continue
        try:
            yield {"input": path, "file": path}, ds.load(i, sample_generator(0, 0, i))
        except Exception as err:  # noqa: BLE001 - any decoder failure: report, go on
            yield {"input": path, "error": f"unreadable image ({err})"}, None


def _image_array(pre: dict, classes: list[str], arr: np.ndarray):
    """(entry, x (C, S, S)) per image of a (N, C, H, W) / (N, H, W, C) pixel batch."""
    from PIL import Image

    in_chans = pre.get("in_chans", 3)
    nhwc = _as_nhwc(arr, in_chans)
    ds = ImageFolder([], classes, _image_cfg(pre), train=False, in_chans=in_chans)
    mode = "RGB" if in_chans == 3 else "L"
    for i, img in enumerate(np.round(nhwc).astype(np.uint8)):
        im = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).convert(mode)
        yield {"input": f"input[{i}]"}, ds.transform(im, sample_generator(0, 0, i))


def _as_nhwc(arr: np.ndarray, in_chans: int) -> np.ndarray:
    """A pixel batch as (N, H, W, C) float64, C in (1, 3), values checked to be in [0, 255]."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and in_chans == 1:
        arr = arr[..., None]  # (N, H, W) grayscale
    if arr.ndim == 4 and arr.shape[1] in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)  # (N, C, H, W) is read first, as torch lays it out
    elif arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"images must be a batch (N, C, H, W) or (N, H, W, C) with C = 1 or 3"
                         f"{' (or (N, H, W))' if in_chans == 1 else ''}; got shape "
                         f"{tuple(arr.shape)}")
    if arr.dtype.kind not in "uif" or arr.size == 0:
        raise ValueError(f"images must be non-empty numbers (uint8 or float pixels); got "
                         f"{arr.dtype} of shape {tuple(arr.shape)}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("image pixels must be finite numbers in [0, 255]; got NaN/inf")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > 255:
        raise ValueError(f"image pixels must be in [0, 255]; got values in [{lo:g}, {hi:g}]: "
                         "pass raw pixels, not normalised ones (scale [0, 1] images by 255)")
    return arr


def _series_inputs(pre: dict, classes: list[str], files: list[tuple[str, str | None]]):
    """(entry, x (C, L) or None) per series in each file."""
    prep = SeriesPreprocess.from_dict(pre)
    for path, error in files:
        if error is not None:
            yield {"input": path, "error": error}, None
            continue
        try:
            raw = read_series_file(path, with_labels=False)[0]
            x = prep.apply(raw, warn=False)
        except (ValueError, OSError) as err:
            yield {"input": path, "error": f"unreadable series ({err})"}, None
            continue
        yield from _named_series(prep, raw, x, path)


def _series_array(pre: dict, classes: list[str], arr: np.ndarray):
    """(entry, x (C, L)) per series of a raw (N, C, L) / (N, L) batch."""
    prep = SeriesPreprocess.from_dict(pre)
    yield from _named_series(prep, arr, prep.apply(arr, warn=False), None)


def _named_series(prep: SeriesPreprocess, raw, x: torch.Tensor, path: str | None):
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
