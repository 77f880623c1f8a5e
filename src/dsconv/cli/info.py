"""`dsconv models`, `dsconv summary`, `dsconv cost`: what a model is and what it costs."""

from __future__ import annotations

import argparse
import json

from ..cost import compare_conv, profile
from ..models import list_models, model_info
from .common import input_size, model_from_args, parse_input
from .flags import Formatter, add_model_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models", formatter_class=Formatter)
    p.add_argument("pattern", nargs="?", default=None,
                   help="only the names matching this shell-style pattern, e.g. 'xception*'")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("summary", help="per-layer table of a model (like Keras's summary())",
                       formatter_class=Formatter)
    p.add_argument("model", help="registered name (see `dsconv models`) or a model file")
    p.add_argument("--input", default=None, help="input size: 224, 160x128, or CxL for 1-D "
                   "(default: the model's)")
    add_model_options(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("cost", help="standard vs depthwise separable convolution: cost and time",
                       formatter_class=Formatter)
    p.add_argument("--in", dest="in_ch", type=int, default=728, help="input channels M")
    p.add_argument("--out", dest="out_ch", type=int, default=728, help="output channels N")
    p.add_argument("--kernel", type=int, default=3, help="kernel size Dk")
    p.add_argument("--size", type=int, default=19, help="input feature map size")
    p.add_argument("--stride", type=int, default=1, help="stride")
    p.add_argument("--dims", type=int, default=2, choices=(1, 2, 3), help="spatial dims")
    p.add_argument("--time", action="store_true", help="also measure CPU latency")
    p.add_argument("--batch", type=int, default=8, help="batch for --time")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_cost)


def cmd_models(args: argparse.Namespace) -> int:
    names = list_models(args.pattern or "")
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; known models: "
                         f"{', '.join(list_models())}")
    for name in names:
        print(f"{name:24s} {model_info(name).description}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    values = parse_input(args.input) if args.input else []
    if args.in_chans is None and args.model in list_models() and \
            len(values) == model_info(args.model).dims + 1:
        args.in_chans = values[0]  # 'CxL': build the model for C channels
    model, name, meta = model_from_args(args, args.model)
    prof = profile(model, input_size(model, name, meta, args.input))
    if args.json:
        print(json.dumps(prof.to_dict(), indent=1))
        return 0
    tokens = " tokens, source and target" if prof.macs_per_token else ""
    print(f'Model: "{name}"  input {"x".join(map(str, prof.input_shape))}{tokens}')
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
    if prof.macs_per_token:
        print(f"Multiply-adds per target token: {prof.macs_per_token:,} "
              f"({prof.macs_per_token / 1e6:.2f} M)")
    print(f"Activation memory (outputs, per sample): {prof.act_bytes / 2**20:.1f} MiB")
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    out = compare_conv(args.in_ch, args.out_ch, args.kernel, args.size, args.stride, args.dims,
                       args.time, args.batch)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    m, n, k, df = out["M"], out["N"], out["Dk"], out["Df"]
    print(f"M={m} -> N={n}, kernel {k}^{args.dims}, output {df}^{args.dims} "
          f"(stride {args.stride})")
    print(f"{'':12} {'params':>12} {'multiply-adds':>16}")
    for kind in ("standard", "separable"):
        print(f"{kind:12} {out[kind]['params']:>12,} {out[kind]['macs']:>16,}")
    print(f"separable / standard = {out['ratio']:.5f};  formula 1/N + 1/Dk^d = "
          f"1/{n} + 1/{k ** args.dims} = {out['formula_ratio']:.5f}")
    if args.time:
        cl = out["separable"].get("ms_channels_last")
        print(f"latency, batch {args.batch}, {out['threads']} threads: standard "
              f"{out['standard']['ms']:.2f} ms, separable {out['separable']['ms']:.2f} ms"
              + (f" (channels_last {cl:.2f} ms)" if cl is not None else "")
              + f"; time ratio {out['time_ratio']:.3f} vs MAC ratio {out['ratio']:.3f}")
    return 0
