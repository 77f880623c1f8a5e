"""One layer, two ways: a standard convolution against its depthwise separable replacement.

The counts come from `profile` (a real forward pass) and are set beside the closed forms, so a
mismatch between the code and the formulas shows; `time=True` adds measured latency, because
fewer multiply-adds is not proportionally less time.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import CONV, SEPARABLE
from ..utils import median_time
from . import formulas
from .profile import profile


def latency_ms(layer: nn.Module, x: torch.Tensor, reps: int = 20) -> float:
    """Median wall time of one inference call of `layer` on `x` (N, C, *S), in ms."""
    layer.eval()
    with torch.inference_mode():
        return 1e3 * median_time(lambda: layer(x), reps, warmup=3)


def compare_conv(m: int, n: int, k: int = 3, size: int = 19, stride: int = 1, dims: int = 2,
                 time: bool = False, batch: int = 8) -> dict:
    """Params and multiply-adds of a standard vs a separable conv M -> N, kernel k, on a
    (size,)*dims map, with the formulas' figures; time=True adds latencies at `batch`."""
    std, sep = CONV[dims](m, n, k, stride), SEPARABLE[dims](m, n, k, stride)
    p_std = profile(std, (size,) * dims, in_chans=m)
    p_sep = profile(sep, (size,) * dims, in_chans=m)
    df = p_std.rows[0].output_shape[-1]
    out = {
        "M": m, "N": n, "Dk": k, "Df": df, "dims": dims,
        "standard": {"params": p_std.trainable_params, "macs": p_std.macs,
                     "formula_macs": formulas.standard_macs(k, m, n, df, dims)},
        "separable": {"params": p_sep.trainable_params, "macs": p_sep.macs,
                      "formula_macs": formulas.separable_macs(k, m, n, df, dims)},
        "ratio": p_sep.macs / p_std.macs,
        "formula_ratio": formulas.separable_ratio(k, n, dims),
    }
    if time:
        x = torch.randn(batch, m, *(size,) * dims)
        out["standard"]["ms"] = latency_ms(std, x)
        out["separable"]["ms"] = latency_ms(sep, x)
        if dims == 2:
            xl = x.contiguous(memory_format=torch.channels_last)
            out["separable"]["ms_channels_last"] = latency_ms(
                sep.to(memory_format=torch.channels_last), xl)
        out["time_ratio"] = out["separable"]["ms"] / out["standard"]["ms"]
        out["threads"] = torch.get_num_threads()
    return out
