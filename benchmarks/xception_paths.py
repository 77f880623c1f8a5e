"""Xception 299x299 inference on CPU: plain PyTorch eager vs dsconv's paths, in one process.

Run by hand:  python benchmarks/xception_paths.py [--batches 1,8] [--reps 5] [--no-compile]
                                                 [--no-keras]
Prints a table and ratios against plain eager NCHW and against ONNX Runtime fp32, measured in
the same run (figures drift ~5% between processes, so only same-run ratios are compared). The
allocator setting of dsconv.utils.runtime is applied first, as the CLI does. The int8 path is
calibrated on random inputs here: its speed does not depend on the data, its accuracy does
(`dsconv quantize` measures that on held-out images). Keras runs on its installed backend.
"""

import argparse
import json

import torch

import dsconv
from dsconv.cost import profile
from dsconv.deploy import optimize
from dsconv.deploy.bench import matmul_roof
from dsconv.deploy.keras_peer import keras_counterpart
from dsconv.utils import median_time, tune_allocator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-keras", action="store_true")
    args = ap.parse_args()
    tune_allocator()
    torch.manual_seed(0)
    model = dsconv.create_model("xception").eval()
    macs = profile(model, 299).macs
    roof = matmul_roof()
    plain = model

    def eager_nchw(x):
        with torch.inference_mode():
            return plain(x)

    paths = {"PyTorch eager NCHW": eager_nchw,
             "dsconv eager (BN folded, channels_last)": optimize(model, "eager", 299),
             "dsconv onnxruntime": optimize(model, "onnxruntime", 299)}
    if not args.no_compile:
        paths["dsconv compile (freezing, channels_last)"] = optimize(model, "compile", 299)
    calib = [torch.randn(4, 3, 299, 299) for _ in range(4)]
    paths["dsconv int8 (onnxruntime QDQ)"] = optimize(model, "int8", 299, calib)
    if not args.no_keras:
        net, label = keras_counterpart(model, 299)
        paths[label] = lambda x: net.predict_on_batch(x.permute(0, 2, 3, 1).numpy())
    results = []
    for bs in [int(b) for b in args.batches.split(",")]:
        x = torch.randn(bs, 3, 299, 299)
        times = {name: median_time(lambda fn=fn, x=x: fn(x), args.reps)
                 for name, fn in paths.items()}
        base, ort = times["PyTorch eager NCHW"], times["dsconv onnxruntime"]
        for name, t in times.items():
            gflops = 2 * macs * bs / t / 1e9
            results.append(dict(path=name, batch=bs, ms=t * 1e3, img_s=bs / t,
                                speedup_vs_eager_nchw=base / t, latency_vs_ort=t / ort,
                                roof_pct=100 * gflops / roof))
    print(f"Xception 299: {macs / 1e9:.3f} G MACs; matmul roof {roof:.0f} GFLOP/s, "
          f"{torch.get_num_threads()} threads")
    print(f"{'path':<44}{'batch':>6}{'ms':>9}{'img/s':>8}{'x eager':>9}{'t/ORT':>7}"
          f"{'% roof':>8}")
    for r in results:
        print(f"{r['path']:<44}{r['batch']:>6}{r['ms']:>9.1f}{r['img_s']:>8.2f}"
              f"{r['speedup_vs_eager_nchw']:>9.2f}{r['latency_vs_ort']:>7.2f}{r['roof_pct']:>8.1f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
