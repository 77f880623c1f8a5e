"""Use a trained model: `evaluate` on labelled data, `predict` files, from any model file.

The file is a dsconv model file, a Keras file (ImageNet class names when it has 1000 classes)
or, for predict, an ONNX file written by `dsconv export` (its metadata carries the classes and
the preprocessing).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import torch

from ..data import labelled_split, modality_named
from ..data.modalities import Inputs
from ..deploy import onnx_metadata, onnx_session
from ..models.seq2seq import Seq2Seq
from ..utils import atomic_write_text
from ..weights import ModelMeta, load_model, sniff_format
from ..weights.modelfile import parse_meta
from .metrics import run_eval, write_eval_reports
from .translation import detokenize, score, translate_ids, translate_pairs


def load_runner(weights: str | Path, model: str | None = None, **overrides
                ) -> tuple[Callable[[torch.Tensor], torch.Tensor], ModelMeta]:
    """(inputs -> logits, meta) for a dsconv, Keras or ONNX model file."""
    if sniff_format(weights) == "onnx":
        meta = parse_meta(onnx_metadata(weights), str(weights))
        return onnx_session(weights), meta
    net, meta = load_model(weights, model, **overrides)
    return _runner(net), meta


def _runner(net: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(x)

    return run


def evaluate(weights: str | Path, data: str | Path | None = None, out: str | Path | None = None,
             batch_size: int = 128, workers: int = 2, model: str | None = None,
             beam: int = 4, length_penalty: float = 0.6, **overrides) -> dict:
    """Top-1/top-5/per-class accuracy and confusion matrix of a model file; for a translation
    model, sacreBLEU and chrF (see `evaluate_translation`; beam, length_penalty: its decoding).

    data: an ImageFolder root (its val/ or test/ subfolder if present; else, when it is the
    folder the model was trained on, the images its run held out, as recorded in the model
    file), a series spec (aeon:NAME, a .npz, a NAME_TRAIN.ts/.arff), or None for the data the
    model was trained on (series) or the digits test split. Reports (CSV, PNG) go to `out`
    (default: beside the weights). Returns the figures and `split`, the name of what was
    measured (e.g. "DIR (held-out 10% of the training folder)").
    """
    net, meta = load_model(weights, model, **overrides)
    if isinstance(net, Seq2Seq):
        return evaluate_translation(net, meta, data, out or Path(weights).parent / "eval",
                                    beam, length_penalty)
    classes = meta.classes or [str(i) for i in range(meta.config["num_classes"])]
    dataset = labelled_split(meta.preprocess, classes, data, meta.provenance)
    metrics = run_eval(net, dataset, len(classes), batch_size, workers if data else 0)
    report_dir = Path(out) if out else Path(weights).parent / "eval"
    metrics["reports"] = [str(p) for p in write_eval_reports(metrics, classes, report_dir)]
    metrics["classes"] = classes
    metrics["split"] = getattr(dataset, "split_name", str(data))
    metrics["unit"] = modality_named(meta.preprocess.kind).unit
    if hasattr(dataset, "samples"):
        metrics["skipped"] = [str(dataset.samples[i][0]) for i in metrics["skipped"]]
    return metrics


def evaluate_translation(net: Seq2Seq, meta: ModelMeta, data: str | Path | None, out: Path,
                         beam: int = 4, length_penalty: float = 0.6) -> dict:
    """sacreBLEU and chrF (with their signatures) of a translation model on a pair of files
    (`data`: PREFIX.SRC-TGT or a .tsv; None: the validation pairs beside its training data).
    Writes the translations, one a line, and the scores to `out`."""
    pairs = labelled_split(meta.preprocess, [], data, meta.provenance)
    hyps = translate_pairs(net, pairs, meta.preprocess, beam, length_penalty)
    figures = score(hyps, pairs.references)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "translations.txt", "".join(h + "\n" for h in hyps))
    figures.update(split=getattr(pairs, "split_name", str(data)), n=len(hyps), beam=beam,
                   length_penalty=length_penalty,
                   unit=modality_named(meta.preprocess.kind).unit)
    atomic_write_text(out / "scores.json", json.dumps(figures, indent=1))
    figures["reports"] = [str(out / "translations.txt"), str(out / "scores.json")]
    return figures


def predict(weights: str | Path, inputs: Inputs, top: int = 5, model: str | None = None,
            beam: int = 4, length_penalty: float = 0.6, **overrides) -> list[dict]:
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
    A result from an image model also has 'image' (= 'input', the name older code reads); a
    file or folder that cannot be used gets {'input', 'error': why} and the others are still
    predicted; a series longer than the model's length gets 'note' (it was truncated), and
    results from a file have 'file'.

    A translation model takes text files (one sentence a line) or an open text stream, and
    gives {'input' (FILE:LINE), 'source', 'translation'} per line (beam search: `beam`,
    `length_penalty`); `top` does not apply.
    """
    if sniff_format(weights) == "onnx":
        run, meta = load_runner(weights, model, **overrides)
    else:
        net, meta = load_model(weights, model, **overrides)
        if isinstance(net, Seq2Seq):
            return predict_translation(net, meta, inputs, beam, length_penalty)
        run = _runner(net)
    if isinstance(inputs, io.IOBase):
        raise ValueError("give the input files: reading standard input is for translation "
                         "models (text)")
    classes = meta.classes or [str(i) for i in range(meta.config.get("num_classes", 0))]
    results = []
    for entry, x in modality_named(meta.preprocess.kind).predict_inputs(meta.preprocess, inputs):
        if x is not None:
            probs = run(x[None]).float().softmax(1)[0]
            p, idx = probs.topk(min(top, len(classes)))
            entry["top"] = [(classes[j], float(q)) for q, j in zip(p.tolist(), idx.tolist())]
        results.append(entry)
    return results


def predict_translation(net: Seq2Seq, meta: ModelMeta, inputs: Inputs, beam: int = 4,
                        length_penalty: float = 0.6) -> list[dict]:
    """Each input line's translation (see `predict`); lines that cannot be used keep their
    place with an 'error'."""
    results, sources = [], []
    for entry, x in modality_named(meta.preprocess.kind).predict_inputs(meta.preprocess, inputs):
        results.append(entry)
        if x is not None:
            sources.append((entry, x))
    ids = translate_ids(net, [x for _, x in sources], beam, length_penalty)
    for (entry, _), t in zip(sources, ids):
        entry["translation"] = detokenize(meta.preprocess.tokenizer_model, t)
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
