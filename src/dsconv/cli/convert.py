"""`dsconv convert keras IN OUT` and `dsconv convert to-keras IN OUT`."""

from __future__ import annotations

import argparse

from ..utils import writable_path
from ..weights import export_keras_weights, load_model, save_model
from .flags import Formatter, add_model_options, model_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="Keras weight files <-> dsconv model files",
                       formatter_class=Formatter)
    p.add_argument("source_format", choices=["keras", "to-keras"],
                   help="'keras': Keras file -> dsconv .safetensors model file; 'to-keras': "
                   "model file -> Keras .h5")
    p.add_argument("input", help="the file to read")
    p.add_argument("output", help="the file to write")
    p.add_argument("--model", default=None, help="registered model name (default: what the "
                   "file's layers say: Xception or MobileNet v1)")
    add_model_options(p)
    p.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    writable_path(args.output)  # before reading the input, which takes a while
    model, meta = load_model(args.input, args.model, **model_overrides(args))
    if args.source_format == "keras":
        save_model(model, args.output, meta.model, meta.classes, meta.preprocess,
                   {**meta.provenance, "created_by": "dsconv convert"})
        n = meta.provenance.get("keras_layers_loaded")
        what = f"{n} Keras layers" if n is not None else args.input
        print(f"loaded {what} into {meta.model} "
              f"({sum(p.numel() for p in model.parameters()):,} parameters); wrote {args.output}")
    else:
        export_keras_weights(model, args.output)
        print(f"wrote Keras weight file {args.output} ({meta.model})")
    return 0
