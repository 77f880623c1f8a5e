"""`dsconv train`, `dsconv evaluate`, `dsconv predict`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..train import TrainConfig, TrainingDiverged, evaluate, predict, train
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
    p.add_argument("--data", default=None, help="ImageFolder root (default: digits test split)")
    p.add_argument("--out", default=None, help="report folder (default: beside the weights)")
    p.add_argument("--model", default=None, help="for Keras files: the model (default: guessed)")
    add_model_options(p)
    p.add_argument("--batch-size", type=int, default=128, help="evaluation batch")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of image files", formatter_class=Formatter)
    p.add_argument("--weights", required=True,
                   help="a model file: dsconv .safetensors, Keras .h5/.keras, or exported .onnx")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--model", default=None, help="for Keras files: the model (default: guessed)")
    add_model_options(p)
    p.add_argument("--top", type=int, default=5, help="classes to show per image")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    tune_allocator()
    cfg = dataclass_from_args(TrainConfig, args, model_args=model_overrides(args))
    try:
        s = train(cfg)
    except TrainingDiverged as err:  # the message names the last good checkpoint
        print(f"dsconv train: stopped: {err}", file=sys.stderr)
        return 3
    if s["final"] is not None and int(os.environ.get("RANK", "0")) == 0:
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
    print(f"{m['n']} {m['unit']} ({m['split']}): top-1 {m['top1']:.4f}{top5}, loss {m['loss']:.4f}"
          + (f"; skipped {len(m['skipped'])} unreadable" if m["skipped"] else ""))
    for c, acc in zip(m["classes"], m["per_class"]):
        print(f"  {c:>20}: {'-' if acc is None else f'{acc:.4f}'}")
    print("reports: " + ", ".join(m["reports"]))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    results = predict(args.weights, args.images, args.top, args.model, **model_overrides(args))
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['image']}: error: {r['error']}")
            else:
                print(f"{r['image']}: " + ", ".join(f"{c} {p:.3f}" for c, p in r["top"]))
    return 1 if any("error" in r for r in results) else 0
