"""`dsconv bench`, `export` and `quantize`: speed per backend, ONNX and int8 files, checked."""

from __future__ import annotations

import argparse
import json

from ..deploy import CALIBRATION_METHODS, export_onnx, quantize_model_file, refuse_translator
from ..deploy.bench import bench, plot_bench
from ..utils import tune_allocator, writable_path
from .common import input_size, model_from_args
from .flags import Formatter, add_model_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="latency, throughput and %% of the matmul roof per backend",
                       formatter_class=Formatter)
    p.add_argument("model", help="registered name or a model file")
    add_model_options(p)
    p.add_argument("--input", "--size", dest="input", default=None,
                   help="input size (default: the model's)")
    p.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    p.add_argument("--backend", default="eager,onnxruntime",
                   help="comma-separated: eager, compile, onnxruntime, int8 (synthetic "
                   "calibration, for timing; `dsconv quantize` measures accuracy)")
    p.add_argument("--train", action="store_true", help="also time training steps")
    p.add_argument("--against", default=None, help="'keras': also time Keras's own model "
                   "(Xception, MobileNet v1) in the same run (default: none)")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (median)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--png", default=None, help="write a bar chart here")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("export", help="ONNX file of a model (BN folded), checked in onnxruntime",
                       formatter_class=Formatter)
    p.add_argument("weights", help="a model file (dsconv .safetensors or Keras), or a "
                   "registered name for random weights with --random")
    p.add_argument("output", help="the .onnx file to write")
    p.add_argument("--model", default=None, help="for Keras files: the model (default: guessed)")
    add_model_options(p)
    p.add_argument("--input", "--size", dest="input", default=None,
                   help="input size (default: the model file's)")
    p.add_argument("--random", action="store_true", help="allow exporting random weights "
                   "(a registered name instead of a file)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("quantize", help="int8 ONNX of a trained model, with its top-1 "
                       "agreement with fp32 on held-out data and its speed-up",
                       formatter_class=Formatter)
    p.add_argument("weights", help="a model file written by `dsconv train` or `convert`")
    p.add_argument("output", help="the int8 .onnx file to write")
    p.add_argument("--data", default=None, help="what the model was trained on: an ImageFolder "
                   "root (calibrates on train/, compares on val/ or test/) or a series spec "
                   "(default: the series the model file records, else the digits)")
    p.add_argument("--calib-images", type=int, default=256, help="calibration images")
    p.add_argument("--method", default="minmax", choices=CALIBRATION_METHODS,
                   help="ONNX Runtime calibration method")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_quantize)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.png:  # fail before minutes of timing, not after
        try:
            import matplotlib  # noqa: F401
        except ImportError as err:
            raise ImportError("--png needs matplotlib: pip install 'dsconv[train]'") from err
        writable_path(args.png)
    tune_allocator()
    model, name, meta = model_from_args(args, args.model)
    refuse_translator(model, name, "bench")
    size = input_size(model, name, meta, args.input)
    res = bench(model, size, [int(b) for b in args.batch.split(",")],
                args.backend.split(","), args.train, args.reps,
                [a for a in (args.against or "").split(",") if a])
    if args.png:
        plot_bench(res, args.png)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    int8 = (f", int8 {res['int8_roof_gops']:.0f} GOP/s (the int8 rows' roof)"
            if res["int8_roof_gops"] else "")
    print(f"{name} at {'x'.join(map(str, size))}: {res['macs'] / 1e9:.3f} G MACs; matmul roof "
          f"fp32 {res['roof_gflops']:.0f} GFLOP/s{int8} ({res['threads']} threads)")
    w = max(len(r["backend"]) for r in res["rows"]) + 2
    print(f"{'backend':<{w}}{'batch':>6}{'ms':>10}{'img/s':>10}{'GFLOP/s':>10}{'% roof':>8}")
    for r in res["rows"]:
        print(f"{r['backend']:<{w}}{r['batch']:>6}{r['ms']:>10.1f}{r['img_s']:>10.2f}"
              f"{r['gflops']:>10.1f}{r['roof_pct']:>8.1f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    if not Path(args.weights).is_file() and not args.random:
        raise ValueError(f"{args.weights}: no such model file (to export random weights of a "
                         "registered model, add --random)")
    writable_path(args.output)  # before loading and exporting, which take a while
    is_file = Path(args.weights).is_file()
    model, name, meta = model_from_args(args, args.model if is_file else args.weights,
                                        args.weights if is_file else None)
    refuse_translator(model, name, "export")
    size = input_size(model, name, meta, args.input)
    extra = {"dsconv": meta.to_json()} if meta is not None else None
    res = export_onnx(model, args.output, size, metadata=extra)
    shape = "any input size" if res["dynamic_size"] else f"input {'x'.join(map(str, size))}"
    print(f"wrote {res['path']} ({shape}); max |onnxruntime - eager| = "
          f"{res['max_abs_diff']:.2e}")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    tune_allocator()
    res = quantize_model_file(args.weights, args.output, args.data, args.calib_images,
                              args.method)
    path = res["path"]
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"wrote {path}")
    held = "held-out " if res["held_out"] else ""
    print(f"top-1 agreement with fp32: {100 * res['agreement']:.2f}% of {res['n']} {held}"
          f"{res['unit']} ({res['split']}; {res['disagreements']} differ)")
    if not res["held_out"]:
        print(f"  (not held out: {res['split']} has no separate test split, so these are the "
              f"training {res['unit']} that calibrated the int8 model)")
    if res["ref_top1"] is not None:
        print(f"top-1 accuracy: fp32 {100 * res['ref_top1']:.2f}%, "
              f"int8 {100 * res['cand_top1']:.2f}%")
    print(f"batch-1 latency in onnxruntime: int8 {res['int8_ms']:.2f} ms, fp32 "
          f"{res['fp32_ms']:.2f} ms ({res['latency_ratio']:.2f}x)")
    return 0
