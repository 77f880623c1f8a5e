"""An optimised inference callable per backend: eager, compile, ONNX Runtime, int8."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from .fuse import fuse_bn
from .onnx import export_onnx, onnx_session
from .quantize import quantize_int8

BACKENDS = ("eager", "compile", "onnxruntime", "int8")


def optimize(model: nn.Module, backend: str = "eager", input_size: int | tuple[int, ...] = 224,
             calibration: Iterable[torch.Tensor] | None = None
             ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ready inference callable (N, C, H, W) -> outputs with the fastest correct settings.

    eager: BN folded, channels_last, inference mode. compile: the same under torch.compile
    (with freezing). onnxruntime: exported (BN folded) and run by ONNX Runtime on CPU.
    int8: `dsconv.deploy.quantize_int8` calibrated on `calibration` (batches of
    preprocessed inputs), run by ONNX Runtime.
    """
    if backend in ("onnxruntime", "int8"):
        # ONNX Runtime reads the file into the session: the temporary copy can go at once.
        with tempfile.TemporaryDirectory(prefix="dsconv-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            if backend == "int8":
                if calibration is None:
                    raise ValueError("backend='int8' needs calibration batches "
                                     "(preprocessed inputs)")
                quantize_int8(model, path, calibration)
            else:
                export_onnx(model, path, input_size, check=False, dynamic_size=False)
            return onnx_session(path)
    net = fuse_bn(model).to(memory_format=torch.channels_last)
    if backend == "compile":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        net = torch.compile(net)
    elif backend != "eager":
        raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(to_channels_last(x))

    return run


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """Images (N, C, H, W) in channels_last memory format; other ranks as they are."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
