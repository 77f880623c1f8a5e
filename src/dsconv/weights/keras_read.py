"""Reading Keras files: legacy HDF5, Keras 3 `.weights.h5` and `.keras` archives.

Read with h5py (and zipfile for `.keras`): nothing is ever unpickled, and Keras itself is not
needed. The result is the file's layers with their arrays, in Keras's own layouts; turning those
into PyTorch tensors is `keras_layers`'s job.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from .sniff import HDF5_MAGIC, ZIP_MAGIC


class WeightFileError(ValueError):
    """A weight file that cannot be used: not HDF5, truncated, or not for this model."""


def require_h5py():
    """The h5py module, or an ImportError that names the install to run."""
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError("reading Keras files needs h5py: pip install 'dsconv[keras]'") from err
    return h5py


def read_keras_weights(path: str | Path) -> list[tuple[str, list[np.ndarray]]]:
    """[(keras layer name, [arrays in Keras order])] for every layer with weights, in file order.

    Accepts Keras 2 / legacy HDF5 (`save_weights('x.h5')`, `model.save('x.h5')`), Keras 3
    `.weights.h5` and `.keras` archives.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    h5py = require_h5py()
    try:
        if head.startswith(ZIP_MAGIC):
            with zipfile.ZipFile(path) as zf:
                if "model.weights.h5" not in zf.namelist():
                    raise WeightFileError(f"{path}: a zip file without model.weights.h5 is not a "
                                          "Keras 3 .keras archive")
                data = io.BytesIO(zf.read("model.weights.h5"))
            with h5py.File(data, "r") as f:
                return _read_group(f, path)
        if head != HDF5_MAGIC:
            raise WeightFileError(
                f"{path}: not an HDF5 file or a .keras archive (starts with {head!r}); expected "
                "a Keras weight file (.h5, .weights.h5 or .keras)"
            )
        with h5py.File(path, "r") as f:
            return _read_group(f, path)
    except (OSError, zipfile.BadZipFile, KeyError, EOFError) as err:
        raise WeightFileError(f"{path}: unreadable or truncated Keras weight file ({err})") from err


def _text(value) -> str:
    """An HDF5 attribute value as text (h5py gives bytes or str, depending on the writer)."""
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _attr_list(group, name: str) -> list[str]:
    return [_text(v) for v in group.attrs.get(name, [])]


def _read_group(f, path: Path) -> list[tuple[str, list[np.ndarray]]]:
    if "model_weights" in f:  # a whole model saved as legacy .h5
        f = f["model_weights"]
    if "layer_names" in f.attrs:  # legacy: ordered layer list with weight names
        out = []
        for name in _attr_list(f, "layer_names"):
            g = f[name]
            arrays = [np.asarray(g[w]) for w in _attr_list(g, "weight_names")]
            if arrays:
                out.append((name, arrays))
        return out
    if "layers" in f:  # Keras 3: layers/<path>/vars/<i>, the layer's name in vars.attrs
        out = []
        _walk_keras3(f["layers"], out)
        return out
    raise WeightFileError(f"{path}: an HDF5 file, but not a Keras weight file (no 'layer_names' "
                          "attribute and no 'layers' group)")


def _walk_keras3(layers, out: list) -> None:
    for key in layers:
        g = layers[key]
        if "vars" in g and len(g["vars"]):
            v = g["vars"]
            name = _text(v.attrs.get("name", key))
            out.append((name, [np.asarray(v[str(i)]) for i in range(len(v))]))
        if "layers" in g:
            _walk_keras3(g["layers"], out)


def keras_model_name(path: str | Path) -> str | None:
    """"a Functional model 'resnet50'" from a whole-model file's config; None for a weights-only
    file (it has no config) or one that cannot be read."""
    try:
        with open(path, "rb") as fh:
            is_zip = fh.read(4) == ZIP_MAGIC
        if is_zip:
            with zipfile.ZipFile(path) as zf:
                raw = zf.read("config.json")
        else:
            with require_h5py().File(path, "r") as f:
                raw = f.attrs.get("model_config")
        config = json.loads(raw) if raw is not None else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if not isinstance(config, dict):
        return None
    name = (config.get("config") or {}).get("name")
    return f"a {config.get('class_name', 'Keras')} model {name!r}" if name else None
