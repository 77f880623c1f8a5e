"""Weights on disk: the dsconv model file, Keras files in and out, format sniffing."""

from .keras import (
    LoadReport,
    WeightFileError,
    export_keras_weights,
    guess_keras_model,
    load_keras_weights,
    read_keras_weights,
)
from .loading import file_model, init_from, load_model, load_weights, save_model
from .modelfile import ModelMeta, image_preprocess, read_meta
from .sniff import sniff_format
from .state import load_state_checked, read_safetensors, save_weights

__all__ = ["LoadReport", "WeightFileError", "export_keras_weights", "guess_keras_model",
           "load_keras_weights", "read_keras_weights", "file_model", "init_from", "load_model",
           "load_weights", "save_model", "ModelMeta", "image_preprocess", "read_meta",
           "sniff_format", "load_state_checked", "read_safetensors", "save_weights"]
