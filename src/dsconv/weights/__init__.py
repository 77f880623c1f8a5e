"""Weights on disk: the dsconv model file (one network or an ensemble), Keras files in and out,
format sniffing."""

from .ensemble import combine_model_files, split_model_file
from .keras import (
    LoadReport,
    WeightFileError,
    export_keras_weights,
    guess_keras_model,
    load_keras_weights,
    read_keras_weights,
)
from .loading import (
    ensemble_size,
    file_model,
    init_from,
    load_model,
    load_weights,
    save_model,
)
from .modelfile import ModelMeta, image_preprocess, read_meta
from .sniff import sniff_format
from .state import load_state_checked, read_safetensors, save_weights

__all__ = ["LoadReport", "WeightFileError", "export_keras_weights", "guess_keras_model",
           "load_keras_weights", "read_keras_weights", "file_model", "init_from", "load_model",
           "load_weights", "save_model", "ModelMeta", "image_preprocess", "read_meta",
           "sniff_format", "load_state_checked", "read_safetensors", "save_weights",
           "ensemble_size", "combine_model_files", "split_model_file"]
