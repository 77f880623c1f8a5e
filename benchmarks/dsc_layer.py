"""One depthwise separable layer at Xception's middle-flow shape, against the matmul roof.

Run by hand:  python benchmarks/dsc_layer.py [--batch 8] [--reps 20]
The layer is SeparableConv2d(728, 728, 3) on (batch, 728, 19, 19): 9*728 + 728*728 multiply-adds
per output pixel, 98.8% of them in the 1x1 conv. Each path is timed in this process next to
an fp32 matmul roof measured in the same run; '% roof' = achieved GFLOP/s / roof.
"""

import argparse
import json
import tempfile
from pathlib import Path

import torch

from dsconv.deploy import export_onnx, onnx_session
from dsconv.deploy.bench import matmul_roof
from dsconv.layers import DepthwiseConv2d, PointwiseConv2d, SeparableConv2d
from dsconv.utils import median_time, tune_allocator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    tune_allocator()
    torch.manual_seed(0)
    c, hw, bs = 728, 19, args.batch
    layers = {"separable": SeparableConv2d(c, c, 3), "depthwise": DepthwiseConv2d(c, 3),
              "pointwise": PointwiseConv2d(c, c)}
    macs = {"separable": bs * hw * hw * (9 * c + c * c), "depthwise": bs * hw * hw * 9 * c,
            "pointwise": bs * hw * hw * c * c}
    x = torch.randn(bs, c, hw, hw)
    xcl = x.contiguous(memory_format=torch.channels_last)
    roof = matmul_roof()
    rows = []

    def record(name: str, path: str, fn) -> None:
        t = median_time(fn, args.reps, warmup=3)
        gflops = 2 * macs[name] / t / 1e9
        rows.append(dict(layer=name, path=path, ms=t * 1e3, gflops=gflops,
                         roof_pct=100 * gflops / roof))

    with torch.inference_mode(), tempfile.TemporaryDirectory() as tmp:
        for name, layer in layers.items():
            layer.eval()
            record(name, "eager NCHW", lambda layer=layer: layer(x))
            lcl = layer.to(memory_format=torch.channels_last)
            record(name, "eager channels_last", lambda lcl=lcl: lcl(xcl))
            comp = torch.compile(lcl)
            record(name, "compile channels_last", lambda comp=comp: comp(xcl))
            path = Path(tmp) / f"{name}.onnx"
            export_onnx(layer, path, hw, check=False, fuse=False)
            run = onnx_session(path)
            record(name, "onnxruntime", lambda run=run: run(x))
    print(f"(batch {bs}, {c}, {hw}, {hw}); matmul roof {roof:.0f} GFLOP/s, "
          f"{torch.get_num_threads()} threads")
    print(f"{'layer':<11}{'path':<24}{'ms':>8}{'GFLOP/s':>9}{'% roof':>8}")
    for r in rows:
        print(f"{r['layer']:<11}{r['path']:<24}{r['ms']:>8.2f}{r['gflops']:>9.1f}"
              f"{r['roof_pct']:>8.1f}")
    print(json.dumps({"roof_gflops": roof, "rows": rows}))


if __name__ == "__main__":
    main()
