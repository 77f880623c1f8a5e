"""Flags from dataclasses (one source of truth) and the model options every command shares."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

_TYPES = {"int": int, "float": float, "str": str}


class Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already says it in words."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if "(default:" in (action.help or ""):  # "(default: the model's)", not "... None"
            return action.help
        return super()._get_help_string(action)


def add_dataclass_flags(p: argparse.ArgumentParser, cls: type) -> None:
    """One --flag per field of `cls` that has help metadata (see train.config.opt)."""
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("flag", False):
            continue
        name = "--" + f.name.replace("_", "-")
        kind = str(f.type).replace(" | None", "").strip()
        help_ = meta["help"].replace("%", "%%")
        if kind == "bool":
            p.add_argument(name, action=argparse.BooleanOptionalAction, default=f.default,
                           help=help_)
        else:
            p.add_argument(name, type=_TYPES[kind], default=f.default, help=help_,
                           choices=meta.get("choices"))


def dataclass_from_args(cls: type, args: argparse.Namespace, **extra: Any):
    """cls(**the parsed values of its fields, **extra)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names}, **extra)


def add_model_options(p: argparse.ArgumentParser, num_classes: bool = True) -> None:
    """--alpha, --in-chans, [--num-classes], --model-arg KEY=VALUE."""
    p.add_argument("--alpha", type=float, default=None, help="MobileNet width multiplier")
    p.add_argument("--in-chans", type=int, default=None, help="input channels")
    if num_classes:
        p.add_argument("--num-classes", type=int, default=None,
                       help="classifier outputs (0: pooled features)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="any model config field, e.g. middle_repeats=4 or include_top=false "
                   "(repeatable; values are JSON, else strings)")


def model_overrides(args: argparse.Namespace) -> dict:
    """The model config overrides the shared model options asked for."""
    out: dict = {}
    for item in args.model_arg:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--model-arg {item!r}: expected KEY=VALUE, e.g. middle_repeats=4")
        out[key.strip()] = parse_value(value.strip())
    for key in ("alpha", "in_chans", "num_classes"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    return out


def parse_value(text: str) -> Any:
    """'4' -> 4, 'false' -> False, 'none' -> None, '[1, 2]' -> [1, 2], else the string."""
    if text.lower() in ("none", "null"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
