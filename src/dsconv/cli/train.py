"""`dsconv train`, `dsconv evaluate`, `dsconv predict`."""

from __future__ import annotations

import argparse
import json
import sys

from ..train import TrainConfig, TrainingDiverged, evaluate, predict, train
from ..train.distributed import env_rank
from ..train.inference import write_predictions_csv
from ..utils import tune_allocator
from .flags import (
    Formatter,
    add_dataclass_flags,
    add_model_options,
    dataclass_from_args,
    model_overrides,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train or fine-tune a model (default: xception_mini on "
                       "the bundled digits)", formatter_class=Formatter)
    add_dataclass_flags(p, TrainConfig)
    add_model_options(p, num_classes=False)
    p.add_argument("--quiet", dest="progress", action="store_false",
                   help="no progress bar or per-epoch lines (same as --no-progress)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="top-1/top-5, per-class accuracy, confusion matrix; "
                       "sacreBLEU and chrF for a translation model", formatter_class=Formatter)
    p.add_argument("--weights", required=True, help="a model file (dsconv .safetensors or Keras)")
    p.add_argument("--data", default=None,
                   help="labelled data: an ImageFolder root (its val/ or test/; without them, "
                   "the share its training run held out if the model trained on it, else all "
                   "images), or series: aeon:NAME, a .npz (X, y), NAME_TRAIN.ts/.arff; "
                   "without it: the test or held-out part of a series model's own data, or "
                   "the digits test split. Text: a pair of files PREFIX.SRC-TGT (e.g. "
                   "val.en-de: val.en, val.de) or a two-column .tsv; without it: the "
                   "validation pairs beside the model's training data")
    p.add_argument("--out", default=None, help="report folder (default: beside the weights)")
    p.add_argument("--model", default=None, help="for Keras files: the model (default: guessed)")
    add_model_options(p)
    p.add_argument("--batch-size", type=int, default=128, help="evaluation batch")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    add_decoding_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of image or series files; translations "
                       "of text, one a line", formatter_class=Formatter)
    p.add_argument("--weights", required=True,
                   help="a model file: dsconv .safetensors, Keras .h5/.keras, or exported .onnx")
    p.add_argument("images", nargs="*", metavar="INPUT",
                   help="images or series files (.npz, .npy, .csv, .ts, .arff: one result per "
                   "series), or folders (their files of the model's kind, recursively); for a "
                   "translation model, text files (one sentence a line), or none or '-' to "
                   "read standard input")
    p.add_argument("--model", default=None, help="for Keras files: the model (default: guessed)")
    add_model_options(p)
    p.add_argument("--top", type=int, default=5, help="classes to show per input")
    add_decoding_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help="write one row per input to FILE: input, top1, prob1, ... topK, probK, "
                   "note, error")
    p.set_defaults(func=cmd_predict)


def add_decoding_options(p: argparse.ArgumentParser) -> None:
    """Beam search options (translation models)."""
    p.add_argument("--beam", type=int, default=4, help="translation: beam size (1: greedy)")
    p.add_argument("--length-penalty", type=float, default=0.6,
                   help="translation: GNMT length penalty alpha ((5+len)/6)^alpha")


def _check_decoding(args: argparse.Namespace) -> None:
    if args.beam < 1:
        raise ValueError(f"--beam {args.beam}: must be >= 1 (1: greedy)")
    if not args.length_penalty >= 0:
        raise ValueError(f"--length-penalty {args.length_penalty}: must be >= 0")


def cmd_train(args: argparse.Namespace) -> int:
    tune_allocator()
    cfg = dataclass_from_args(TrainConfig, args, model_args=model_overrides(args))
    try:
        s = train(cfg)
    except TrainingDiverged as err:  # the message names the last good checkpoint
        print(f"dsconv train: stopped: {err}", file=sys.stderr)
        return 3
    if "ensemble" in s:
        if env_rank() == 0:
            _print_ensemble(s)
        return 0
    if s["final"] is not None and env_rank() == 0:
        f = s["final"]
        val = f" | {s['val_name']} top-1 {f['val_top1']:.4f}" if "val_top1" in f else ""
        if "val_bleu" in f:
            val = (f" | {s['val_name']} BLEU {f['val_bleu']:.2f} (greedy), perplexity "
                   f"{f['val_ppl']:.2f}")
        epochs = (f"{s['epochs_done']:.3g} of {s['epochs']}" if s["stopped_early"]
                  else s["epochs"])
        print(f"trained {s['model']} for {epochs} epochs ({s['steps']} steps, "
              f"{s['processes']} process(es)) in {s['wall_s']:.1f} s: train acc "
              f"{f['train_acc']:.4f}{val}"
              + (f"; skipped images: {s['skipped_images']}" if s["skipped_images"] else ""))
        if s["stopped_early"] and not args.progress:  # with progress, the log said it
            print(s["stopped_early"])
        best = ", best.safetensors" if s["best"] else ""
        print(f"wrote {s['out']}/model.safetensors{best}, metrics.csv, curves.png, summary.json")
    return 0


def _print_ensemble(s: dict) -> None:
    """Each member's figures and the ensemble's, side by side; or why it stopped."""
    if s["timed_out"]:
        print(s["stopped_early"])
        return
    print(f"ensemble of {s['ensemble']} {s['model']}, {s['split']}, {s['n']} {s['unit']}:")
    for r in s["members"]:
        print(f"  {'member-' + str(r['member']) + ' (seed ' + str(r['seed']) + ')':<22} top-1 "
              f"{r['top1']:.4f}  loss {r['loss']:.4f}")
    print(f"  {'ensemble':<22} top-1 {s['top1']:.4f}  loss {s['loss']:.4f}")
    print(f"wrote {s['out']}/model.safetensors ({s['ensemble']} members), summary.json, "
          "members.csv")


def cmd_evaluate(args: argparse.Namespace) -> int:
    _check_decoding(args)
    m = evaluate(args.weights, args.data, args.out, args.batch_size, args.workers, args.model,
                 args.beam, args.length_penalty, **model_overrides(args))
    if args.json:
        print(json.dumps(m, indent=1))
        return 0
    if "bleu" in m:  # a translation model
        print(f"{m['split']}: {m['n']} {m['unit']}, beam {m['beam']}: sacreBLEU "
              f"{m['bleu']:.2f}, chrF {m['chrf']:.2f}")
        print(f"  {m['bleu_signature']}\n  {m['chrf_signature']}")
        print("reports: " + ", ".join(m["reports"]))
        return 0
    top5 = f", top-5 {m['top5']:.4f}" if len(m["classes"]) > 5 else ""
    print(f"{m['split']}: {m['n']} {m['unit']}, top-1 {m['top1']:.4f}{top5}, loss "
          f"{m['loss']:.4f}" + (f"; skipped {len(m['skipped'])} unreadable" if m["skipped"]
                               else ""))
    for c, acc in zip(m["classes"], m["per_class"]):
        print(f"  {c:>20}: {'-' if acc is None else f'{acc:.4f}'}")
    print("reports: " + ", ".join(m["reports"]))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    _check_decoding(args)
    inputs = args.images if args.images not in ([], ["-"]) else sys.stdin
    results = predict(args.weights, inputs, args.top, args.model, args.beam,
                      args.length_penalty, **model_overrides(args))
    if results and "top" not in results[0] and "source" in results[0]:  # translations
        return _print_translations(results, args)
    path = write_predictions_csv(results, args.csv) if args.csv else None
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['input']}: error: {r['error']}")
            elif path is None:  # with --csv the rows are in the file
                print(f"{r['input']}: " + ", ".join(f"{c} {p:.3f}" for c, p in r["top"]))
        if path is not None:
            print(f"wrote {path}: {len(results)} rows")
    # A note (e.g. a series truncated to the model's length) once per file, apart from results.
    for file, note in dict.fromkeys((r.get("file", r["input"]), r["note"]) for r in results
                                    if "note" in r):
        print(f"note: {file}: {note}", file=sys.stderr)
    return 1 if any("error" in r for r in results) else 0


def _print_translations(results: list[dict], args: argparse.Namespace) -> int:
    """One translation a line on stdout (an unusable line keeps its place, empty, and is named
    on stderr), or JSON."""
    if args.json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
    else:
        for r in results:
            print(r.get("translation", ""))
    for r in results:
        if "error" in r:
            print(f"{r['input']}: error: {r['error']}", file=sys.stderr)
    return 1 if any("error" in r for r in results) else 0
