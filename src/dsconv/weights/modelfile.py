"""The one model file: safetensors weights + metadata that rebuilds and uses the model.

Every command that writes a model (train, convert, fine-tune) writes this; every command that
takes weights reads it with no model flags. Metadata key "dsconv", a JSON object:

    schema      1
    model       registered name ('xception_mini')
    config      the model's full config (num_classes, in_chans, alpha, ...): create_model(model,
                **config) rebuilds it exactly
    classes     class names in output order, or null
    preprocess  the modality's record (`dsconv.data.Preprocess`), e.g. {"kind": "image",
                "input_size": [H, W], "in_chans": 3, "normalize": "tf", "resize_ratio": 0.875};
                series records carry their statistics
    provenance  where it came from: created_by, source file, data, epochs, metrics, version
    ensemble    (only in an ensemble's file, schema 2) N: the file holds N networks of `model`
                with `config` (tensors members.0..., members.1...), their probabilities
                averaged (`dsconv.models.Ensemble`)

Files of one network are written as schema 1, so every dsconv reads them; an ensemble's says
schema 2, so a dsconv that cannot rebuild it asks to be upgraded rather than misreading it.

Files written by dsconv 0.1 (train's {"model", "model_kwargs", "img_size", ...} and convert's
{"model"}) are read too, and upgraded in memory.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..data import Preprocess, image_preprocess, modality_of_model, read_preprocess
from ..models import model_info
from .sniff import sniff_format

SCHEMA = 2  # the newest this reads (2: ensembles)


@dataclass
class ModelMeta:
    """A model file's metadata: what rebuilds the model and what feeds it.

    Fields: model (registered name), config (the model's full config: create_model(model,
    **config) rebuilds it), classes (names in output order, or None), preprocess (the
    modality's typed record: `ImagePreprocess`, `SeriesPreprocess`; a dict is read as one),
    provenance (created_by, data, epochs, metrics, version...), ensemble (N: N networks of
    `model`, averaged; None: one network).
    """

    model: str
    config: dict
    classes: list[str] | None = None
    preprocess: Preprocess | None = None  # None: the registered model's default
    provenance: dict = field(default_factory=dict)
    ensemble: int | None = None

    def __post_init__(self) -> None:
        if not self.preprocess:  # None, or {} from a file that records none
            self.preprocess = default_preprocess(self.model, self.config)
        self.preprocess = read_preprocess(self.preprocess)

    def to_json(self) -> str:
        d = {"schema": 2 if self.ensemble else 1, **dataclasses.asdict(self),
             "preprocess": self.preprocess.to_dict()}
        if not self.ensemble:
            del d["ensemble"]
        return json.dumps(d)

    @property
    def title(self) -> str:
        """'xceptiontime', or 'ensemble of 5 xceptiontime'."""
        return f"ensemble of {self.ensemble} {self.model}" if self.ensemble else self.model

    @property
    def input_size(self) -> tuple[int, ...]:
        return tuple(self.preprocess.input_size)

    @property
    def in_chans(self) -> int:
        return int(self.preprocess.in_chans)


def default_preprocess(name: str, config: dict) -> Preprocess:
    """The preprocessing a registered model's design expects (images: its input size and
    scaling; series: its length, and no statistics until trained on data)."""
    info = model_info(name)
    return modality_of_model(info).default_preprocess(info, config)


def parse_meta(raw: dict[str, str] | None, source: str) -> ModelMeta:
    """ModelMeta from a safetensors header's metadata (any dsconv schema so far)."""
    raw = raw or {}
    if "dsconv" in raw:
        try:
            d = json.loads(raw["dsconv"])
        except json.JSONDecodeError as err:
            raise ValueError(f"{source}: corrupt dsconv metadata ({err})") from err
        if d.get("schema", 0) > SCHEMA:
            raise ValueError(f"{source}: written by a newer dsconv (schema {d['schema']}); "
                             "upgrade dsconv to read it")
        if "schema" in d:
            return ModelMeta(d["model"], d["config"], d.get("classes"),
                             d.get("preprocess") or None, d.get("provenance", {}),
                             d.get("ensemble"))
        # dsconv 0.1 `train`: partial model kwargs, image size and normalisation
        return ModelMeta(d["model"], dict(d.get("model_kwargs", {})), d.get("classes"),
                         image_preprocess(d["img_size"], d.get("in_chans", 3),
                                          d.get("normalize", "tf")),
                         {"created_by": "dsconv train", "data": d.get("data")})
    if "model" in raw:  # dsconv 0.1 `convert`: only the model name
        return ModelMeta(raw["model"], {}, None, None, {"created_by": "dsconv convert"})
    if _is_onnx(source):  # predict reads an ONNX file's metadata_props through here too
        raise ValueError(f"{source}: no dsconv metadata in this ONNX file, so it does not say "
                         "which classes it predicts or how to preprocess; write one that does "
                         "from a dsconv model file: `dsconv export MODEL.safetensors OUT.onnx` "
                         "(or `dsconv quantize` for int8)")
    raise ValueError(f"{source}: no dsconv metadata in this safetensors file, so it does not say "
                     "which model it holds; load it into a model you build with "
                     "dsconv.weights.load_weights(model, path)")


def _is_onnx(source: str) -> bool:
    """Whether `source` (a path, as the callers pass it) is an ONNX file."""
    try:
        return sniff_format(source) == "onnx"
    except (OSError, ValueError):
        return False


def read_meta(path: str | Path) -> ModelMeta:
    """The ModelMeta of a dsconv .safetensors model file (reads the header only)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            raw = f.metadata()
    except Exception as err:  # noqa: BLE001 - any parse failure is a corrupt file
        raise ValueError(f"{path}: not a readable safetensors file ({err})") from err
    return parse_meta(raw, str(path))
