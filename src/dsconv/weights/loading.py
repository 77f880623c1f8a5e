"""From a file on disk to a running model, in one pass: sniff, read metadata, build, load.

    model, meta = load_model("runs/digits/model.safetensors")      # dsconv model file
    model, meta = load_model("xception_weights_tf_dim_ordering_tf_kernels.h5")  # Keras file
    save_model(model, "model.safetensors", "xception", classes=[...], preprocess={...})
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torch import nn

from ..data import Preprocess, imagenet_classes
from ..models import Ensemble, create_model, ensemble_of
from .keras import (
    KERAS_READABLE,
    describe_keras_file,
    describe_keras_model,
    guess_keras_model,
    load_keras_weights,
    read_keras_weights,
)
from .modelfile import ModelMeta, default_preprocess, read_meta
from .sniff import refuse_pickle, sniff_format
from .state import load_state_checked, read_safetensors, save_weights


def save_model(model: nn.Module, path: str | Path, name: str, classes: list[str] | None = None,
               preprocess: Preprocess | dict | None = None, provenance: dict | None = None
               ) -> Path:
    """Write `model` as a dsconv model file (weights + the metadata that rebuilds it).

    preprocess: the record its inputs need (None: the registered model's default). An
    `Ensemble` is recorded as its n members' model and config (whatever `name` it was built
    under: litetime's file says 5 x lite)."""
    from .. import __version__

    n = model.n if isinstance(model, Ensemble) else None
    meta = ModelMeta(model.member if n else name, dataclasses.asdict(model.cfg), classes,
                     preprocess, {"dsconv_version": __version__, **(provenance or {})}, n)
    return save_weights(model, path, metadata={"dsconv": meta.to_json()})


def load_weights(model: nn.Module, path: str | Path, strict: bool = True):
    """Load any supported weight file into an already built `model`, in place."""
    kind = sniff_format(path)
    if kind == "keras":
        return load_keras_weights(model, path, strict=strict)
    if kind == "torch-pickle":
        raise refuse_pickle(path)
    if kind == "onnx":
        raise ValueError(f"{path}: an ONNX file; it runs as it is (dsconv predict takes it) but "
                         "its weights do not load back into a PyTorch model")
    return load_state_checked(model, read_safetensors(path), str(path), strict)


def load_model(path: str | Path, model: str | None = None, **overrides
               ) -> tuple[nn.Module, ModelMeta]:
    """Build the model a weight file holds and load it; returns (model in eval mode, meta).

    A dsconv model file needs nothing else (an ensemble's builds an `Ensemble`; `model` then
    names its members' model). A Keras file says what it holds by its layer names (Xception
    or MobileNet v1, alpha, classes); `model` and `overrides` (alpha=..., ...) must agree with
    it if given.
    """
    kind = sniff_format(path)
    if kind == "torch-pickle":
        raise refuse_pickle(path)
    if kind == "onnx":
        raise ValueError(f"{path}: an ONNX file: use dsconv.deploy.onnx_session to run it")
    if kind == "keras":
        meta = keras_meta(path, model, overrides)
    else:
        meta = read_meta(path)
        if model is not None and model != meta.model:
            raise ValueError(f"{path} holds {meta.title!r}, not {model!r}: leave out --model")
        meta.config = {**meta.config, **overrides}
    net = (ensemble_of(meta.model, meta.ensemble, **meta.config) if meta.ensemble else
           create_model(meta.model, **meta.config))
    report = load_weights(net, path)
    if kind == "keras":
        meta.provenance["keras_layers_loaded"] = len(report.loaded)
    meta.config = dataclasses.asdict(net.cfg)
    return net.eval(), meta


def keras_meta(path: str | Path, model: str | None, overrides: dict) -> ModelMeta:
    """ModelMeta of a Keras applications file: what its layers say, plus the caller's choices."""
    layers = read_keras_weights(path)
    guess = guess_keras_model(layers)
    if guess is None:  # no --model can help: the weights load by Keras's layer names
        raise ValueError(f"{path}: {describe_keras_file(path, layers)}: not an architecture "
                         f"dsconv reads; it reads {KERAS_READABLE}")
    name, config = guess
    if model is not None and model.split("_standard")[0] != name:
        raise ValueError(f"{path} holds {name}, not {model}: use --model "
                         f"{describe_keras_model(guess)}")
    config = {**config, **overrides}
    classes = None
    if config.get("num_classes") == 1000 and config.get("include_top", True):
        classes = [n for _, n in imagenet_classes()]  # Keras's ImageNet weights
    return ModelMeta(name, config, classes, default_preprocess(name, config),
                     {"created_by": "keras", "source": str(Path(path).name)})


def file_model(path: str | Path) -> tuple[str, dict]:
    """(model name, config) that a weight file holds, without loading its tensors."""
    kind = sniff_format(path)
    if kind == "safetensors":
        meta = read_meta(path)
        return meta.model, dict(meta.config)
    if kind == "keras":
        meta = keras_meta(path, None, {})
        return meta.model, dict(meta.config)
    if kind == "torch-pickle":
        raise refuse_pickle(path)
    raise ValueError(f"{path}: an ONNX file cannot initialise a model; use the .safetensors "
                     "model file it was exported from")


def ensemble_size(path: str | Path) -> int:
    """How many networks a model file holds: its ensemble's members, else 1."""
    if sniff_format(path) != "safetensors":
        return 1
    try:
        return read_meta(path).ensemble or 1
    except ValueError:  # no dsconv metadata: a plain state dict, one network's
        return 1


def init_from(model: nn.Module, path: str | Path) -> dict:
    """Copy into `model` every tensor of a weight file that matches by name and shape (fine-
    tuning's start); the rest keeps its fresh init. Returns {loaded, reinitialised, unused}.
    """
    kind = sniff_format(path)
    if kind == "keras":
        report = load_keras_weights(model, path, strict=False)
        own = [n for n, _ in model.named_modules()]
        return {"loaded": len(report.loaded), "reinitialised": report.missing + [
            n for n, _ in report.skipped if n in own], "unused": [n for n, _ in report.skipped]}
    if kind != "safetensors":
        load_weights(model, path)  # raises the clear error for pickles and ONNX
    n = ensemble_size(path)
    if n > 1 and not isinstance(model, Ensemble):  # no name would match: nothing would load
        raise ValueError(f"{path} holds an ensemble of {n} networks: --init takes one; train "
                         f"--ensemble {n} to fine-tune each member from its own")
    state, own = read_safetensors(path), model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fits, strict=False)
    return {"loaded": len(fits), "reinitialised": sorted(set(own) - set(fits)),
            "unused": sorted(set(state) - set(fits))}
