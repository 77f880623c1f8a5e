"""Keras weight files in and out, exactly: legacy HDF5, Keras 3 `.weights.h5`, `.keras` archives.

The files are read by `keras_read` (h5py, and zipfile for `.keras`; nothing unpickled).
Layouts (Keras -> PyTorch):

    Conv kernel       (*k, in, out)        -> (out, in, *k)
    Depthwise kernel  (*k, in, dm)         -> (in * dm, 1, *k)   (channel c*dm + j)
    Pointwise kernel  (1, .., in*dm, out)  -> (out, in*dm, 1, ..)
    Dense kernel      (in, out)            -> (out, in)
    BatchNorm         gamma, beta, moving_mean, moving_variance -> weight, bias, running_*
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..layers import DEPTHWISE, SeparableConv
from ..models import KerasEntry
from ..utils import atomic_path
from .keras_guess import (
    KERAS_READABLE,
    describe_keras_file,
    describe_keras_model,
    guess_keras_model,
)
from .keras_read import WeightFileError, read_keras_weights, require_h5py

# Keras classifiers that are 1x1 convolutions (kernel (1, 1, in, out)) rather than Dense.
CONV_CLASSIFIERS = {"conv_preds"}


def keras_table(model: nn.Module) -> list[KerasEntry]:
    """The model's (Keras name, dsconv path) table, in Keras's layer order, leaving out the
    entries whose module does not exist in this configuration (the twin's missing BNs, say)."""
    if not hasattr(model, "keras_layers"):
        raise ValueError(f"no Keras layer table for {type(model).__name__}: Keras weights map "
                         "onto Xception and MobileNet v1 models")
    modules = dict(model.named_modules())
    return [e for e in model.keras_layers()
            if e.path in modules and any(True for _ in modules[e.path].parameters())]


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)          # Keras layer names loaded
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why), strict=False
    missing: list[str] = field(default_factory=list)         # dsconv modules left unchanged

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} Keras layers"]
        lines += [f"  skipped {n}: {why}" for n, why in self.skipped[:10]]
        if len(self.skipped) > 10:
            lines.append(f"  ... and {len(self.skipped) - 10} more skipped")
        if self.missing:
            lines.append(f"  {len(self.missing)} modules kept their values, e.g. "
                         f"{', '.join(self.missing[:3])}")
        return "\n".join(lines)


# ------------------------------------------------------------------- tensors <-> Keras arrays

def _is_depthwise(m: nn.modules.conv._ConvNd) -> bool:
    return isinstance(m, tuple(DEPTHWISE.values())) or (m.groups == m.in_channels > 1)


def _conv_kernel_to_keras(m: nn.modules.conv._ConvNd) -> np.ndarray:
    w = m.weight.detach().cpu().numpy()
    d = w.ndim - 2
    if _is_depthwise(m):  # (in*dm, 1, *k) -> (*k, in, dm)
        dm = m.out_channels // m.in_channels
        k = np.moveaxis(w[:, 0], 0, -1)  # (*k, in*dm)
        return k.reshape(*k.shape[:d], m.in_channels, dm)
    return np.transpose(w, (*range(2, 2 + d), 1, 0))  # (out, in, *k) -> (*k, in, out)


def module_to_keras(m: nn.Module, conv_classifier: bool = False) -> list[np.ndarray]:
    """A dsconv/torch module's weights as the arrays of the matching Keras layer, in order."""
    if isinstance(m, SeparableConv):
        if m.order != "depthwise_first" or m.segments != m.in_channels:
            raise WeightFileError("only depthwise-first, fully depthwise separable convs have a "
                                  "Keras counterpart (SeparableConv)")
        arrays = [_conv_kernel_to_keras(m.depthwise), _conv_kernel_to_keras(m.pointwise)]
        return arrays + ([m.pointwise.bias.detach().cpu().numpy()] if m.pointwise.bias is not None
                         else [])
    if isinstance(m, nn.modules.conv._ConvNd):
        b = [m.bias.detach().cpu().numpy()] if m.bias is not None else []
        return [_conv_kernel_to_keras(m)] + b
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return [t.detach().cpu().numpy() for t in (m.weight, m.bias, m.running_mean,
                                                   m.running_var)]
    if isinstance(m, nn.Linear):
        k = m.weight.detach().cpu().numpy().T
        if conv_classifier:
            k = k.reshape(1, 1, *k.shape)
        return [k, m.bias.detach().cpu().numpy()]
    raise WeightFileError(f"no Keras layout for {type(m).__name__}")


def _conv_kernel_from_keras(m: nn.modules.conv._ConvNd, k: np.ndarray) -> np.ndarray:
    d = k.ndim - 2
    if _is_depthwise(m):  # (*k, in, dm) -> (in*dm, 1, *k)
        flat = k.reshape(*k.shape[:d], -1)
        return np.moveaxis(flat, -1, 0)[:, None]
    return np.transpose(k, (d + 1, d, *range(d)))


def _torch_targets(m: nn.Module) -> list[tuple[torch.Tensor, callable]]:
    """(tensor, Keras array -> torch array) for each Keras weight of `m`, in Keras order."""
    ident = lambda a: a  # noqa: E731
    if isinstance(m, SeparableConv):
        t = [(m.depthwise.weight, lambda a: _conv_kernel_from_keras(m.depthwise, a)),
             (m.pointwise.weight, lambda a: _conv_kernel_from_keras(m.pointwise, a))]
        return t + ([(m.pointwise.bias, ident)] if m.pointwise.bias is not None else [])
    if isinstance(m, nn.modules.conv._ConvNd):
        t = [(m.weight, lambda a: _conv_kernel_from_keras(m, a))]
        return t + ([(m.bias, ident)] if m.bias is not None else [])
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return [(m.weight, ident), (m.bias, ident), (m.running_mean, ident),
                (m.running_var, ident)]
    if isinstance(m, nn.Linear):
        return [(m.weight, lambda a: a.reshape(a.shape[-2:]).T), (m.bias, ident)]
    raise WeightFileError(f"no Keras layout for {type(m).__name__}")


# ---------------------------------------------------------------------------- load / export

def _auto_order(name: str) -> tuple[str, int]:
    """Sort key giving Keras's creation order of automatic names (conv2d, conv2d_1, ...)."""
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return m.group(1), int(m.group(2) or 0)


def _assign(m: nn.Module, name: str, path: str, arrays: list[np.ndarray],
            conv_classifier: bool) -> None:
    expected = [a.shape for a in module_to_keras(m, conv_classifier)]
    found = [a.shape for a in arrays]
    if expected != found:
        raise WeightFileError(
            f"layer {name!r} -> {path}: expected Keras weight shapes {expected}, found {found} "
            "(another architecture, width or number of classes?)"
        )
    with torch.no_grad():
        for (tensor, convert), a in zip(_torch_targets(m), arrays):
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(convert(a))).to(tensor.dtype))


def load_keras_weights(model: nn.Module, path: str | Path, strict: bool = True) -> LoadReport:
    """Load a Keras weight file into an Xception / MobileNetV1 model, in place.

    Layers are matched by Keras applications name; the unnamed shortcut convs / BNs by order and
    shape. strict=True raises `WeightFileError` on any missing, extra or mis-shaped layer;
    strict=False loads what matches and lists the rest in the returned `LoadReport`.
    """
    layers = read_keras_weights(path)
    table = keras_table(model)
    modules = dict(model.named_modules())
    by_name = {e.keras_name: e for e in table if e.keras_name}
    report = LoadReport()
    named = {n: a for n, a in layers if n in by_name}
    auto_prefixes = {e.auto_prefix for e in table if e.keras_name is None}
    # Unnamed layers of the file, grouped by automatic prefix, in creation order.
    unnamed_file: dict[str, list[tuple[str, list]]] = {}
    extra: list[str] = []
    for n, arrays in layers:
        if n in by_name:
            continue
        prefix = _auto_order(n)[0]
        if prefix in auto_prefixes:
            unnamed_file.setdefault(prefix, []).append((n, arrays))
        else:
            extra.append(n)
    for group in unnamed_file.values():
        group.sort(key=lambda item: _auto_order(item[0]))
    problems: list[str] = []
    for e in table:
        if e.keras_name is not None:
            src = (e.keras_name, named.get(e.keras_name))
        else:
            queue = unnamed_file.get(e.auto_prefix, [])
            src = queue.pop(0) if queue else (f"<unnamed {e.auto_prefix}>", None)
        name, arrays = src
        if arrays is None:
            problems.append(f"missing layer {name!r} (for {e.path})")
            report.missing.append(e.path)
            continue
        try:
            _assign(modules[e.path], name, e.path, arrays, name in CONV_CLASSIFIERS)
            report.loaded.append(name)
        except WeightFileError as err:
            problems.append(str(err))
            report.skipped.append((name, str(err)))
    leftover = extra + [n for q in unnamed_file.values() for n, _ in q]
    for n in leftover:
        problems.append(f"extra layer {n!r} in the file has no place in this model")
        report.skipped.append((n, "no matching module"))
    if problems and strict:
        hint = ""
        if any("predictions" in p or "conv_preds" in p for p in problems):
            hint = " (include_top / num_classes must match the file)"
        guess = guess_keras_model(layers)
        if guess is not None:
            hint += (f". This file holds {describe_keras_model(guess)}: build that model "
                     f"(CLI: --model {describe_keras_model(guess)})")
        raise WeightFileError(f"{path}: {len(problems)} problem(s) loading Keras weights into "
                              f"{type(model).__name__}{hint}:\n  " + "\n  ".join(problems[:20]))
    return report


def export_keras_weights(model: nn.Module, path: str | Path) -> Path:
    """Write `model`'s weights as a Keras HDF5 weight file (the `save_weights('x.h5')` layout).

    Keras opens it with `keras_model.load_weights(path)` (order-based, as Keras's own legacy
    loader does), and `load_keras_weights` reads it back exactly. Written atomically.
    """
    h5py = require_h5py()
    path = Path(path)
    modules = dict(model.named_modules())
    counters: dict[str, int] = {}
    names = []
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for e in keras_table(model):
            name = e.keras_name
            if name is None:  # the names a fresh Keras session gives unnamed layers
                i = counters.get(e.auto_prefix, 0)
                counters[e.auto_prefix] = i + 1
                name = e.auto_prefix if i == 0 else f"{e.auto_prefix}_{i}"
            arrays = module_to_keras(modules[e.path], name in CONV_CLASSIFIERS)
            g = f.create_group(name)
            weight_names = _keras_weight_names(name, modules[e.path], len(arrays))
            g.attrs["weight_names"] = [w.encode("utf8") for w in weight_names]
            for w, a in zip(weight_names, arrays):
                g.create_dataset(w, data=a.astype(np.float32))
            names.append(name)
        f.attrs["layer_names"] = [n.encode("utf8") for n in names]
        f.attrs["backend"] = b"torch"
        f.attrs["keras_version"] = b"3"
    return path


def _keras_weight_names(layer: str, m: nn.Module, n: int) -> list[str]:
    if isinstance(m, SeparableConv):
        base = ["depthwise_kernel", "pointwise_kernel", "bias"]
    elif isinstance(m, nn.modules.batchnorm._BatchNorm):
        base = ["gamma", "beta", "moving_mean", "moving_variance"]
    elif isinstance(m, nn.modules.conv._ConvNd) and _is_depthwise(m):
        base = ["depthwise_kernel", "bias"]
    else:
        base = ["kernel", "bias"]
    return [f"{layer}/{b}:0" for b in base[:n]]


__all__ = ["load_keras_weights", "export_keras_weights", "read_keras_weights", "LoadReport",
           "WeightFileError", "KerasEntry", "module_to_keras", "guess_keras_model",
           "describe_keras_model", "describe_keras_file", "KERAS_READABLE", "keras_table"]
