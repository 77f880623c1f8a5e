"""Models and their registry. Each model file registers its own variants on import."""

from . import (  # noqa: F401  (registers)
    inceptiontime,
    lite,
    mobilenet,
    slicenet,
    transformer,
    xception,
    xceptiontime,
)
from .base import ClassifierModel, KerasEntry, make_config
from .ensemble import Ensemble, ensemble_of, register_ensemble
from .inceptiontime import InceptionTime, InceptionTimeConfig
from .lite import Lite, LiteConfig
from .mobilenet import MobileNetV1, MobileNetV1Config
from .registry import ModelInfo, create_model, list_models, model_info, register_model
from .seq2seq import Seq2Seq
from .slicenet import SliceNet, SliceNetConfig
from .transformer import Transformer, TransformerConfig
from .xception import Xception, XceptionConfig
from .xceptiontime import XceptionTime, XceptionTimeConfig

__all__ = [
    "ClassifierModel", "KerasEntry", "make_config", "ModelInfo",
    "Xception", "XceptionConfig", "MobileNetV1", "MobileNetV1Config", "XceptionTime",
    "XceptionTimeConfig", "InceptionTime", "InceptionTimeConfig", "Lite", "LiteConfig",
    "create_model", "list_models", "model_info", "register_model",
    "Seq2Seq", "SliceNet", "SliceNetConfig", "Transformer", "TransformerConfig",
    "Ensemble", "ensemble_of", "register_ensemble",
]
