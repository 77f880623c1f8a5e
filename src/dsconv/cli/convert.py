"""`dsconv convert keras IN OUT --model NAME`: Keras weight files <-> safetensors."""

from __future__ import annotations

import argparse

from ..interop import export_keras_weights, load_keras_weights
from ..io import load_weights, save_weights
from ..models import create_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert weights between Keras files and safetensors")
    p.add_argument("source_format", choices=["keras", "to-keras"],
                   help="'keras': Keras file -> safetensors; 'to-keras': safetensors -> Keras .h5")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--model", required=True, help="registered model name, e.g. xception")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--alpha", type=float, default=None, help="MobileNet width multiplier")
    p.add_argument("--no-top", action="store_true", help="the file has no classifier (notop)")
    p.add_argument("--non-strict", action="store_true", help="load what matches, report the rest")
    p.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    kw = {}
    if args.num_classes is not None:
        kw["num_classes"] = args.num_classes
    if args.alpha is not None:
        kw["alpha"] = args.alpha
    if args.no_top:
        kw.update(include_top=False, global_pool=None)
    model = create_model(args.model, **kw)
    if args.source_format == "keras":
        report = load_keras_weights(model, args.input, strict=not args.non_strict)
        save_weights(model, args.output, metadata={"model": args.model})
        print(f"loaded {len(report.loaded)} Keras layers into {args.model}; wrote {args.output}")
        for name, why in report.skipped:
            print(f"  skipped {name}: {why}")
    else:
        load_weights(model, args.input)
        export_keras_weights(model, args.output)
        print(f"wrote Keras weight file {args.output} ({args.model})")
    return 0
