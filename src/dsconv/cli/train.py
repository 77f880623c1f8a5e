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

    p = sub.add_parser("evaluate", help="top-1/top-5, per-class accuracy, confusion matrix",
                       formatter_class=Formatter)
    p.add_argument("--weights", required=True, help="a model file (dsconv .safetensors or Keras)")
    p.add_argument("--data", default=None,
                   help="labelled data: an ImageFolder root (its val/ or test/; without them, "
                   "the share its training run held out if the model trained on it, else all "
                   "images), or series: aeon:NAME, a .npz (X, y), NAME_TRAIN.ts/.arff; "
                   "without it: the test or held-out part of a series model's own data, or "
                   "the digits test split")
    p.add_argument("--out", default=None, help="report folder (default: beside the weights)")
    p.add_argument("--model", default=None, help="for Keras files: the model (default: guessed)")
    add_model_options(p)
    p.add_argument("--batch-size", type=int, default=128, help="evaluation batch")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of image or series files",
                       formatter_class=Formatter)
    p.add_argument("--weights", required=True,
                   help="a model file: dsconv .safetensors, Keras .h5/.keras, or exported .onnx")
    p.add_argument("images", nargs="+", metavar="INPUT",
                   help="images or series files (.npz, .npy, .csv, .ts, .arff: one result per "
                   "series), or folders (their files of the model's kind, recursively)")
    p.add_argument("--model", default=None, help="for Keras files: the model (default: guessed)")
    add_model_options(p)
    p.add_argument("--top", type=int, default=5, help="classes to show per input")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help="write one row per input to FILE: input, top1, prob1, ... topK, probK, "
                   "note, error")
    p.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    tune_allocator()
    cfg = dataclass_from_args(TrainConfig, args, model_args=model_overrides(args))
    try:
        s = train(cfg)
    except TrainingDiverged as err:  # the message names the last good checkpoint
        print(f"dsconv train: stopped: {err}", file=sys.stderr)
        return 3
    if s["final"] is not None and env_rank() == 0:
        f = s["final"]
        val = f" | {s['val_name']} top-1 {f['val_top1']:.4f}" if "val_top1" in f else ""
        epochs = f"{f['epoch']} of {s['epochs']}" if s["stopped_early"] else s["epochs"]
        print(f"trained {s['model']} for {epochs} epochs ({s['steps']} steps, "
              f"{s['processes']} process(es)) in {s['wall_s']:.1f} s: train acc "
              f"{f['train_acc']:.4f}{val}"
              + (f"; skipped images: {s['skipped_images']}" if s["skipped_images"] else ""))
        if s["stopped_early"] and not args.progress:  # with progress, the log said it
            print(s["stopped_early"])
        best = ", best.safetensors" if s["best"] else ""
        print(f"wrote {s['out']}/model.safetensors{best}, metrics.csv, curves.png, summary.json")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    m = evaluate(args.weights, args.data, args.out, args.batch_size, args.workers, args.model,
                 **model_overrides(args))
    if args.json:
        print(json.dumps(m, indent=1))
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
    results = predict(args.weights, args.images, args.top, args.model, **model_overrides(args))
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
