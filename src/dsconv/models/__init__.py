"""Models and their registry. Each model file registers its own variants on import."""

from . import mobilenet, xception  # noqa: F401  (registers the models)
from .base import ClassifierModel, KerasEntry, make_config
from .mobilenet import MobileNetV1, MobileNetV1Config
from .registry import ModelInfo, create_model, list_models, model_info, register_model
from .xception import Xception, XceptionConfig

__all__ = [
    "ClassifierModel", "KerasEntry", "make_config", "ModelInfo",
    "Xception", "XceptionConfig", "MobileNetV1", "MobileNetV1Config",
    "create_model", "list_models", "model_info", "register_model",
]
