"""Xception, MobileNet v1 and their standard-convolution twins, with a registry."""

from .mobilenet import MobileNetV1, MobileNetV1Config
from .registry import create_model, get_model_entry, list_models, register_model
from .xception import Xception, XceptionConfig

__all__ = [
    "Xception", "XceptionConfig", "MobileNetV1", "MobileNetV1Config",
    "create_model", "list_models", "register_model", "get_model_entry",
]
