"""`dsconv convert keras IN OUT`, `dsconv convert to-keras IN OUT`, and `dsconv ensemble A B ...
--out E`: model files in, a model file out."""

from __future__ import annotations

import argparse

from ..utils import writable_path
from ..weights import combine_model_files, export_keras_weights, load_model, save_model
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

    p = sub.add_parser("ensemble", help="one model file of several trained ones (e.g. one run "
                       "per seed): their class probabilities averaged",
                       formatter_class=Formatter)
    p.add_argument("members", nargs="+", metavar="MODEL",
                   help="model files of one model and config, trained on the same classes "
                   "and preprocessing (an ensemble's file gives its members)")
    p.add_argument("--out", default="ensemble.safetensors",
                   help="the ensemble's model file to write")
    p.set_defaults(func=cmd_ensemble)


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


def cmd_ensemble(args: argparse.Namespace) -> int:
    writable_path(args.out)
    ens, meta = combine_model_files(args.members, args.out, {"created_by": "dsconv ensemble"})
    print(f"wrote {args.out}: {meta.title} ({sum(p.numel() for p in ens.parameters()):,} "
          "parameters), probabilities averaged")
    return 0
