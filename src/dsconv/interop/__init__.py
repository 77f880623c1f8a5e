"""Interoperability: Keras weight files in and out."""

from .keras import (
    LoadReport,
    WeightFileError,
    export_keras_weights,
    load_keras_weights,
    read_keras_weights,
)

__all__ = ["load_keras_weights", "export_keras_weights", "read_keras_weights", "LoadReport",
           "WeightFileError"]
