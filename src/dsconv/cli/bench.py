"""`dsconv bench` and `dsconv export`: speed per backend; ONNX files checked against eager."""

from __future__ import annotations

import argparse
import json

from ..models import create_model, get_model_entry


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="latency, throughput and % of the matmul roof per backend")
    p.add_argument("model")
    p.add_argument("--size", type=int, default=None, help="input size (default: the model's)")
    p.add_argument("--batch", default="1,8", help="comma-separated batch sizes")
    p.add_argument("--backend", default="eager,onnxruntime",
                   help="comma-separated: eager, compile, onnxruntime")
    p.add_argument("--train", action="store_true", help="also time training steps")
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


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import bench, plot_bench
    from ..runtime import tune_allocator

    tune_allocator()
    model = create_model(args.model).eval()
    size = args.size or get_model_entry(args.model).metadata.get("input_size", 224)
    res = bench(model, size, [int(b) for b in args.batch.split(",")],
                args.backend.split(","), args.train, args.reps)
    if args.png:
        plot_bench(res, args.png)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{args.model} at {size}x{size}: {res['macs'] / 1e9:.3f} G MACs; matmul roof "
          f"{res['roof_gflops']:.0f} GFLOP/s ({res['threads']} threads)")
    print(f"{'backend':<24}{'batch':>6}{'ms':>10}{'img/s':>10}{'GFLOP/s':>10}{'% roof':>8}")
    for r in res["rows"]:
        print(f"{r['backend']:<24}{r['batch']:>6}{r['ms']:>10.1f}{r['img_s']:>10.2f}"
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
