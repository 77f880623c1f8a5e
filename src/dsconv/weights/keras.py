"""Keras weight files in and out, exactly: legacy HDF5, Keras 3 `.weights.h5`, `.keras` archives.

This module matches a file's layers to a model's modules (`load_keras_weights`) and writes a
model as a Keras weight file (`export_keras_weights`). The parts it stands on:

    keras_read    open the file formats: [(layer name, [arrays])]
    keras_layers  the one table of layouts: a module's tensors <-> its Keras layer's arrays
    keras_guess   which dsconv model a file's layer names describe, in words for errors

Every name those parts offer to other code is importable from here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from ..models import KerasEntry
from ..utils import atomic_path
from .keras_guess import (
    KERAS_READABLE,
    describe_keras_file,
    describe_keras_model,
    guess_keras_model,
)
from .keras_layers import keras_layout, module_to_keras
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
    """What `load_keras_weights` did: the layers it loaded, skipped and could not find."""

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


# ------------------------------------------------------------------------------------ load

Layers = list[tuple[str, list[np.ndarray]]]


def _auto_order(name: str) -> tuple[str, int]:
    """Sort key giving Keras's creation order of automatic names (conv2d, conv2d_1, ...)."""
    m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
    return m.group(1), int(m.group(2) or 0)


def _assign(m: nn.Module, name: str, path: str, arrays: list[np.ndarray],
            conv_classifier: bool) -> None:
    """Load Keras layer `name`'s arrays into module `m` (at `path`), after checking shapes."""
    layout = keras_layout(m, conv_classifier)
    expected = [a.shape for a in layout.to_keras(m)]
    found = [a.shape for a in arrays]
    if expected != found:
        raise WeightFileError(
            f"layer {name!r} -> {path}: expected Keras weight shapes {expected}, found {found} "
            "(another architecture, width or number of classes?)"
        )
    layout.load(m, arrays)


def _pair_layers(layers: Layers, table: list[KerasEntry]
                 ) -> tuple[list[tuple[KerasEntry, str, list | None]], list[str]]:
    """([(entry, Keras layer name, its arrays or None)], names of the file's leftover layers).

    Named entries take the file's layer of that name; unnamed ones (Keras's automatic names,
    conv2d, conv2d_1, ...) take the file's layers of their prefix in creation order.
    """
    by_name = {e.keras_name for e in table if e.keras_name}
    named = {n: a for n, a in layers if n in by_name}
    auto_prefixes = {e.auto_prefix for e in table if e.keras_name is None}
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
    pairs = []
    for e in table:
        if e.keras_name is not None:
            pairs.append((e, e.keras_name, named.get(e.keras_name)))
            continue
        queue = unnamed_file.get(e.auto_prefix, [])
        name, arrays = queue.pop(0) if queue else (f"<unnamed {e.auto_prefix}>", None)
        pairs.append((e, name, arrays))
    return pairs, extra + [n for q in unnamed_file.values() for n, _ in q]


def load_keras_weights(model: nn.Module, path: str | Path, strict: bool = True) -> LoadReport:
    """Load a Keras weight file into an Xception / MobileNetV1 model, in place.

    Layers are matched by Keras applications name; the unnamed shortcut convs / BNs by order and
    shape. strict=True raises `WeightFileError` on any missing, extra or mis-shaped layer;
    strict=False loads what matches and lists the rest in the returned `LoadReport`.
    """
    layers = read_keras_weights(path)
    modules = dict(model.named_modules())
    pairs, leftover = _pair_layers(layers, keras_table(model))
    report = LoadReport()
    problems: list[str] = []
    for e, name, arrays in pairs:
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
    for n in leftover:
        problems.append(f"extra layer {n!r} in the file has no place in this model")
        report.skipped.append((n, "no matching module"))
    if problems and strict:
        raise WeightFileError(f"{path}: {len(problems)} problem(s) loading Keras weights into "
                              f"{type(model).__name__}{_hint(problems, layers)}:\n  "
                              + "\n  ".join(problems[:20]))
    return report


def _hint(problems: list[str], layers: Layers) -> str:
    """What to change when a file does not load: the classifier, or the model the file holds."""
    hint = ""
    if any("predictions" in p or "conv_preds" in p for p in problems):
        hint = " (include_top / num_classes must match the file)"
    guess = guess_keras_model(layers)
    if guess is not None:
        hint += (f". This file holds {describe_keras_model(guess)}: build that model "
                 f"(CLI: --model {describe_keras_model(guess)})")
    return hint


# ---------------------------------------------------------------------------------- export

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
            m = modules[e.path]
            layout = keras_layout(m, name in CONV_CLASSIFIERS)
            weight_names = [f"{name}/{w}:0" for w in layout.weight_names(m)]
            g = f.create_group(name)
            g.attrs["weight_names"] = [w.encode("utf8") for w in weight_names]
            for w, a in zip(weight_names, layout.to_keras(m)):
                g.create_dataset(w, data=a.astype(np.float32))
            names.append(name)
        f.attrs["layer_names"] = [n.encode("utf8") for n in names]
        f.attrs["backend"] = b"torch"
        f.attrs["keras_version"] = b"3"
    return path


__all__ = ["load_keras_weights", "export_keras_weights", "read_keras_weights", "LoadReport",
           "WeightFileError", "KerasEntry", "module_to_keras", "guess_keras_model",
           "describe_keras_model", "describe_keras_file", "KERAS_READABLE", "keras_table"]
