"""`dsconv bench`, `export` and `quantize`: speed per backend, ONNX and int8 files, checked."""

from __future__ import annotations

import argparse
import json

from ..models import create_model, get_model_entry
from ..quantize import CALIBRATION_METHODS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="latency, throughput and % of the matmul roof per backend")
    p.add_argument("model")
    p.add_argument("--size", type=int, default=None, help="input size (default: the model's)")
    p.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    p.add_argument("--backend", default="eager,onnxruntime",
                   help="comma-separated: eager, compile, onnxruntime, int8 (synthetic "
                   "calibration, for timing; `dsconv quantize` measures accuracy)")
    p.add_argument("--train", action="store_true", help="also time training steps")
    p.add_argument("--against", default="", help="'keras': also time Keras's own model "
                   "(Xception, MobileNet v1) in the same run")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--png", default=None, help="write a bar chart here")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("export", help="export to ONNX (BN folded), checked in onnxruntime")
    p.add_argument("model")
    p.add_argument("output")
    p.add_argument("--weights", default=None)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--num-classes", type=int, default=None)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("quantize", help="int8 ONNX of a trained model, with its top-1 "
                       "agreement with fp32 on held-out data and its speed-up")
    p.add_argument("weights", help="a model.safetensors written by `dsconv train`")
    p.add_argument("output", help="the int8 .onnx file to write")
    p.add_argument("--data", default=None, help="the ImageFolder root the model was trained "
                   "on: calibrates on train/, compares on val/ or test/ (default: digits)")
    p.add_argument("--calib-images", type=int, default=256)
    p.add_argument("--method", default="minmax", choices=CALIBRATION_METHODS)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_quantize)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import bench, plot_bench
    from ..runtime import tune_allocator

    if args.png:  # fail before minutes of timing, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError as err:
            raise ImportError("--png needs matplotlib: pip install 'dsconv[train]'") from err
    tune_allocator()
    model = create_model(args.model).eval()
    size = args.size or get_model_entry(args.model).metadata.get("input_size", 224)
    res = bench(model, size, [int(b) for b in args.batch.split(",")],
                args.backend.split(","), args.train, args.reps,
                [a for a in args.against.split(",") if a])
    if args.png:
        plot_bench(res, args.png)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{args.model} at {size}x{size}: {res['macs'] / 1e9:.3f} G MACs; matmul roof "
          f"{res['roof_gflops']:.0f} GFLOP/s ({res['threads']} threads)")
    w = max(len(r["backend"]) for r in res["rows"]) + 2
    print(f"{'backend':<{w}}{'batch':>6}{'ms':>10}{'img/s':>10}{'GFLOP/s':>10}{'% roof':>8}")
    for r in res["rows"]:
        print(f"{r['backend']:<{w}}{r['batch']:>6}{r['ms']:>10.1f}{r['img_s']:>10.2f}"
              f"{r['gflops']:>10.1f}{r['roof_pct']:>8.1f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..deploy import export_onnx

    kw = {} if args.num_classes is None else {"num_classes": args.num_classes}
    model = create_model(args.model, weights=args.weights, **kw)
    size = args.size or get_model_entry(args.model).metadata.get("input_size", 224)
    res = export_onnx(model, args.output, size)
    print(f"wrote {res['path']}; max |onnxruntime - eager| = {res['max_abs_diff']:.2e}")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    import torch
    from torch.utils.data import DataLoader, Subset

    from ..bench import median_time
    from ..data import collate
    from ..deploy import export_onnx, onnx_session
    from ..quantize import quantize_onnx, top1_agreement
    from ..runtime import tune_allocator
    from ..train.predict import labelled_split, load_trained

    tune_allocator()
    model, info = load_trained(args.weights)
    train, held_out = (labelled_split(info, args.data, s) for s in ("train", "eval"))
    # A seeded random subset, so that every class is likely present in calibration.
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    calib = Subset(train, pick[: args.calib_images].tolist())
    calib_batches = (x for x, _, _ in DataLoader(calib, batch_size=32, collate_fn=collate)
                     if x is not None)
    loader = DataLoader(held_out, batch_size=64, collate_fn=collate)
    x = next(x for x, _, _ in loader if x is not None)[:1]
    with tempfile.TemporaryDirectory(prefix="dsconv-quantize-") as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"  # one export serves quantization and the timing
        export_onnx(model, fp32_path, tuple(x.shape[-2:]), check=False)
        fp32 = onnx_session(fp32_path)
        path = quantize_onnx(fp32_path, args.output, calib_batches, method=args.method)
    int8 = onnx_session(path)
    res = top1_agreement(model, int8, loader)
    res["int8_ms"], res["fp32_ms"] = (1e3 * median_time(lambda f=f: f(x), 20) for f in (int8, fp32))
    res["latency_ratio"] = res["int8_ms"] / res["fp32_ms"]
    res["path"] = str(path)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"wrote {path}")
    print(f"top-1 agreement with fp32: {100 * res['agreement']:.2f}% of {res['n']} held-out "
          f"images ({res['disagreements']} differ)")
    if res["ref_top1"] is not None:
        print(f"top-1 accuracy: fp32 {100 * res['ref_top1']:.2f}%, "
              f"int8 {100 * res['cand_top1']:.2f}%")
    print(f"batch-1 latency in onnxruntime: int8 {res['int8_ms']:.2f} ms, fp32 "
          f"{res['fp32_ms']:.2f} ms ({res['latency_ratio']:.2f}x)")
    return 0
