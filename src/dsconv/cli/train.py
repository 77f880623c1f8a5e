"""`dsconv train`, `dsconv evaluate`, `dsconv predict`."""

from __future__ import annotations

import argparse
import json

from ..train.config import RECIPES, TrainConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = TrainConfig()
    p = sub.add_parser("train", help="train a model on an image folder (default: bundled digits)")
    p.add_argument("--model", default=d.model)
    p.add_argument("--data", default=None, help="ImageFolder root (default: bundled digits)")
    p.add_argument("--out", default=d.out)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch")
    p.add_argument("--accum-steps", type=int, default=1)
    p.add_argument("--recipe", choices=sorted(RECIPES), default=d.recipe)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=["adamw", "sgd"])
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--drop-rate", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--ema-decay", type=float)
    p.add_argument("--bn-momentum", type=float)
    p.add_argument("--img-size", type=int)
    p.add_argument("--normalize", choices=["tf", "imagenet"], default=d.normalize)
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--no-hflip", dest="hflip", action="store_false")
    p.add_argument("--val-split", type=float, default=d.val_split)
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--amp", choices=["auto", "none", "bf16", "fp16"], default=d.amp,
                   help="mixed precision; auto: bf16 on CUDA GPUs that have it, fp32 on CPU")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--grad-clip", type=float)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--ckpt-every", type=int, default=0, help="checkpoint every N steps too")
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoints")
    p.add_argument("--device", default=d.device)
    p.add_argument("--tensorboard", action="store_true")
    p.add_argument("--quiet", dest="progress", action="store_false")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="top-1/top-5, per-class accuracy, confusion matrix")
    p.add_argument("--weights", required=True, help="model.safetensors written by train")
    p.add_argument("--data", default=None, help="ImageFolder root (default: digits test split)")
    p.add_argument("--out", default=None, help="report directory (default: beside weights)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="top-k classes of image files")
    p.add_argument("--weights", required=True)
    p.add_argument("images", nargs="+")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)


def cmd_train(args: argparse.Namespace) -> int:
    import os
    import sys

    from ..runtime import tune_allocator
    from ..train import TrainingDiverged, train

    tune_allocator()
    fields = TrainConfig.__dataclass_fields__
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    try:
        s = train(cfg)
    except TrainingDiverged as err:  # the message names the last good checkpoint
        print(f"dsconv train: stopped: {err}", file=sys.stderr)
        return 3
    if s["final"] is not None and int(os.environ.get("RANK", "0")) == 0:
        f = s["final"]
        val = f" | test top-1 {f['val_top1']:.4f}" if "val_top1" in f else ""
        print(f"trained {s['model']} for {s['epochs']} epochs ({s['steps']} steps, "
              f"{s['processes']} process(es)) in {s['wall_s']:.1f} s: train acc "
              f"{f['train_acc']:.4f}{val}; skipped images: {s['skipped_images']}")
        print(f"wrote {s['out']}/model.safetensors, metrics.csv, curves.png, summary.json")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..train import evaluate

    m = evaluate(args.weights, args.data, args.out, args.batch_size, args.workers)
    if args.json:
        print(json.dumps(m, indent=1))
        return 0
    print(f"{m['n']} images: top-1 {m['top1']:.4f}, top-5 {m['top5']:.4f}, loss {m['loss']:.4f}"
          + (f"; skipped {len(m['skipped'])} unreadable" if m["skipped"] else ""))
    for c, acc in zip(m["classes"], m["per_class"]):
        print(f"  {c:>20}: {'-' if acc is None else f'{acc:.4f}'}")
    print("reports: " + ", ".join(m["reports"]))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..train import predict

    results = predict(args.weights, args.images, args.top)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    for r in results:
        if "error" in r:
            print(f"{r['image']}: {r['error']}")
            continue
        print(f"{r['image']}: " + ", ".join(f"{c} {p:.3f}" for c, p in r["top"]))
    return 0
