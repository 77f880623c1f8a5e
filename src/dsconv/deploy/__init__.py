"""Deployment: BN folding, ONNX export, int8, an optimised callable per backend, benchmarks."""

from .fuse import fold_bn_into_conv, fuse_bn
from .onnx import example_input, export_onnx, onnx_metadata, onnx_session
from .optimize import BACKENDS, optimize
from .quantize import (
    CALIBRATION_METHODS,
    quantize_int8,
    quantize_model_file,
    quantize_onnx,
    refuse_translator,
    top1_agreement,
)

__all__ = ["fold_bn_into_conv", "fuse_bn", "example_input", "export_onnx", "onnx_metadata",
           "onnx_session", "BACKENDS", "optimize", "CALIBRATION_METHODS", "quantize_int8",
           "quantize_model_file", "quantize_onnx", "refuse_translator", "top1_agreement"]
