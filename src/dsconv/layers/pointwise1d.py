"""A fast pointwise (1x1) Conv1d for CPU: `pointwise_conv1d(x, weight, bias)`.

A 1x1 Conv1d on (N, C, L) data is a matrix product per sample, W (O, C) @ x[n] (C, L), but
oneDNN does not run it as one: on one core of the Skylake Xeon its forward and backward
reached 40-60 GFLOP/s at XceptionTime's shapes (64 series, 128-512 channels, 512 steps), the
same products as a `torch.bmm` of the weight broadcast over the batch 80-90 (grad_weight is a
bmm then a sum over the batch, which autograd does for the broadcast). So on CPU, for
float32/float64 and one group, the layer is that bmm and autograd differentiates it (double
backward included). Elsewhere it is `F.conv1d`: on CUDA, under autocast (which picks the
conv's dtype), and whenever torch traces (ONNX export, torch.export, torch.compile), so
exported graphs hold a Conv that ONNX Runtime fuses with the BatchNorm after it and quantizes
per channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils import is_tracing

__all__ = ["pointwise_conv1d", "uses_matmul"]

USE_MATMUL: bool = True  # run-time switch: False runs every 1x1 Conv1d as F.conv1d


def uses_matmul(x: Tensor, weight: Tensor, groups: int = 1) -> bool:
    """Whether `pointwise_conv1d` runs as a matmul for this input and weight (see the module)."""
    return (USE_MATMUL and groups == 1 and not is_tracing() and x.dim() == 3
            and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and weight.dtype == x.dtype and not torch.is_autocast_enabled("cpu"))


def pointwise_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                     groups: int = 1) -> Tensor:
    """F.conv1d(x, weight, bias, groups=groups) for a 1x1 kernel at stride 1:
    x (N, C, L), weight (O, C / groups, 1), bias (O,) or None -> (N, O, L); the same numbers
    within float rounding, by a batched matmul where `uses_matmul`."""
    if not uses_matmul(x, weight, groups):
        return F.conv1d(x, weight, bias, groups=groups)
    # bmm over the weight broadcast to every sample: the output comes out (N, O, L)-contiguous.
    # (torch.matmul(W, x) folds the batch into one GEMM on x's transpose and returns a
    # channels-last view, which the BatchNorm and add after it then copy: 20% of an epoch.)
    y = torch.bmm(weight[..., 0].expand(x.shape[0], -1, -1), x)
    return y if bias is None else y + bias[:, None]
