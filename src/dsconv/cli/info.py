"""`dsconv models`, `dsconv summary`, `dsconv cost`: what a model is and what it costs."""

from __future__ import annotations

import argparse
import json
import time

import torch

from ..cost import formulas, profile
from ..layers import Conv2d, SeparableConv2d
from ..models import create_model, get_model_entry, list_models


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", help="per-layer table of a model (like Keras's summary())")
    p.add_argument("model", help="registered model name (see `dsconv models`)")
    p.add_argument("--input", type=int, default=None, help="input size (default: the model's)")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("cost", help="standard vs depthwise separable convolution: cost and time")
    p.add_argument("--in", dest="in_ch", type=int, default=728, help="input channels M")
    p.add_argument("--out", dest="out_ch", type=int, default=728, help="output channels N")
    p.add_argument("--kernel", type=int, default=3, help="kernel size Dk")
    p.add_argument("--size", type=int, default=19, help="input feature map size")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--time", action="store_true", help="also measure CPU latency")
    p.add_argument("--batch", type=int, default=8, help="batch for --time")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cost)


def cmd_models(args: argparse.Namespace) -> int:
    for name in list_models():
        print(f"{name:24s} {get_model_entry(name).description}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    model = create_model(args.model, **kwargs)
    size = args.input or get_model_entry(args.model).metadata.get("input_size", 224)
    prof = profile(model, size)
    if args.json:
        print(json.dumps(prof.to_dict(), indent=1))
        return 0
    print(f'Model: "{args.model}"  input {"x".join(map(str, prof.input_shape))}')
    header = f"{'Layer (type)':<52} {'Output Shape':<20} {'Param #':>12} {'MACs':>15}"
    print(header)
    print("=" * len(header))
    for r in prof.rows:
        if r.type in ("Identity", "Dropout"):
            continue
        shape = "(" + ", ".join(map(str, r.output_shape)) + ")"
        print(f"{r.name + ' (' + r.type + ')':<52} {shape:<20} {r.params:>12,} {r.macs:>15,}")
    print("=" * len(header))
    print(f"Total params: {prof.trainable_params + prof.non_trainable_params:,}")
    print(f"Trainable params: {prof.trainable_params:,}")
    print(f"Non-trainable params: {prof.non_trainable_params:,}")
    print(f"Multiply-adds: {prof.macs:,} ({prof.macs / 1e9:.3f} G)")
    print(f"Activation memory (outputs, per sample): {prof.act_bytes / 2**20:.1f} MiB")
    return 0


def latency_ms(layer: torch.nn.Module, x: torch.Tensor, reps: int = 20) -> float:
    """Median wall time of one forward call of `layer` on `x`, in ms (after warm-up)."""
    layer.eval()
    times = []
    with torch.inference_mode():
        for _ in range(3):
            layer(x)
        for _ in range(reps):
            t0 = time.perf_counter()
            layer(x)
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2] * 1e3


def cmd_cost(args: argparse.Namespace) -> int:
    m, n, k, size = args.in_ch, args.out_ch, args.kernel, args.size
    std = Conv2d(m, n, k, args.stride)
    sep = SeparableConv2d(m, n, k, args.stride)
    p_std, p_sep = profile(std, size, in_chans=m), profile(sep, size, in_chans=m)
    df = p_std.rows[0].output_shape[-1]
    out = {
        "M": m, "N": n, "Dk": k, "Df": df,
        "standard": {"params": p_std.trainable_params, "macs": p_std.macs,
                     "formula_macs": formulas.standard_macs(k, m, n, df)},
        "separable": {"params": p_sep.trainable_params, "macs": p_sep.macs,
                      "formula_macs": formulas.separable_macs(k, m, n, df)},
        "ratio": p_sep.macs / p_std.macs,
        "formula_ratio": formulas.separable_ratio(k, n),
    }
    if args.time:
        x = torch.randn(args.batch, m, size, size)
        out["standard"]["ms"] = latency_ms(std, x)
        out["separable"]["ms"] = latency_ms(sep, x)
        xl = x.contiguous(memory_format=torch.channels_last)
        out["separable"]["ms_channels_last"] = latency_ms(
            sep.to(memory_format=torch.channels_last), xl)
        out["time_ratio"] = out["separable"]["ms"] / out["standard"]["ms"]
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"M={m} -> N={n}, kernel {k}x{k}, output {df}x{df} (stride {args.stride})")
    print(f"{'':12} {'params':>12} {'multiply-adds':>16}")
    for kind in ("standard", "separable"):
        print(f"{kind:12} {out[kind]['params']:>12,} {out[kind]['macs']:>16,}")
    print(f"separable / standard = {out['ratio']:.5f};  formula 1/N + 1/Dk^2 = "
          f"1/{n} + 1/{k * k} = {out['formula_ratio']:.5f}")
    if args.time:
        print(f"latency, batch {args.batch}, {torch.get_num_threads()} threads: standard "
              f"{out['standard']['ms']:.2f} ms, separable {out['separable']['ms']:.2f} ms "
              f"(channels_last {out['separable']['ms_channels_last']:.2f} ms); "
              f"time ratio {out['time_ratio']:.3f} vs MAC ratio {out['ratio']:.3f}")
    return 0
