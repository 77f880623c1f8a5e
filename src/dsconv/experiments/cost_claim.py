"""The `cost` claim's rows: counted and closed-form costs, per layer and per model, and time.

A depthwise separable conv costs Dk^2*M*Df^2 + M*N*Df^2 multiply-adds against Dk^2*M*N*Df^2
for a regular one: ratio 1/N + 1/Dk^2. Each layer row holds the counted figures (from a forward
pass), the formula's, and the measured latency of both, because fewer multiply-adds is not
proportionally less time. Each model row holds the network and its standard-convolution twin.
"""

from __future__ import annotations

from typing import Any

from ..cost import compare_conv, profile
from ..models import create_model, model_info

# (M, N, Dk, Df): Xception's middle flow, MobileNet's first and late layers, wider kernels.
LAYERS = [(728, 728, 3, 19), (32, 64, 3, 112), (512, 512, 3, 14), (1024, 1024, 3, 7),
          (256, 256, 5, 28), (128, 128, 7, 56)]
# (model, its twin, input size, the paper's figures: params and multiply-adds of each).
MODELS = [("xception", "xception_standard", 299, None),
          ("mobilenet_v1", "mobilenet_v1_standard", 224, (4.2e6, 569e6, 29.3e6, 4866e6)),
          ("xceptiontime", "xceptiontime_standard", 512, None)]


def layer_row(m: int, n: int, k: int, df: int, time: bool, batch: int) -> dict[str, Any]:
    c = compare_conv(m, n, k, df, time=time, batch=batch)
    std, sep = c["standard"], c["separable"]
    row = {"variant": f"layer {m}->{n} {k}x{k} @ {df}", "kind": "layer",
           "std_params": std["params"], "sep_params": sep["params"],
           "std_macs": std["macs"], "sep_macs": sep["macs"],
           "macs_ratio": sep["macs"] / std["macs"], "formula_ratio": 1 / n + 1 / k**2,
           "formula_matches": std["macs"] == std["formula_macs"]
           and sep["macs"] == sep["formula_macs"],
           "param_ratio": sep["params"] / std["params"]}
    if time:
        row.update(std_ms=std["ms"], sep_ms=sep["ms"], time_ratio=c["time_ratio"])
    return row


def model_row(name: str, twin: str, size: int, paper: tuple | None) -> dict[str, Any]:
    dims = model_info(name).dims
    shape = (size,) * dims
    ps = profile(create_model(name, **({"in_chans": 6} if dims == 1 else {})), shape)
    pt = profile(create_model(twin, **({"in_chans": 6} if dims == 1 else {})), shape)
    row = {"variant": f"model {name} vs {twin} @ {size}", "kind": "model",
           "std_params": pt.trainable_params, "sep_params": ps.trainable_params,
           "std_macs": pt.macs, "sep_macs": ps.macs, "macs_ratio": ps.macs / pt.macs,
           "param_ratio": ps.trainable_params / pt.trainable_params}
    if paper is not None:
        row.update(paper_sep_params=paper[0], paper_sep_macs=paper[1],
                   paper_std_params=paper[2], paper_std_macs=paper[3])
    return row


def cost_rows(spec) -> list[dict[str, Any]]:
    """All rows of the cost claim. spec.base: time (bool, default True), batch (default 8),
    layers (optional list of [M, N, Dk, Df]), models (bool, default True)."""
    time, batch = spec.base.get("time", True), spec.base.get("batch", 8)
    layers = [tuple(x) for x in spec.base.get("layers", LAYERS)]
    rows = [layer_row(m, n, k, df, time, batch) for m, n, k, df in layers]
    if spec.base.get("models", True):
        rows += [model_row(*m) for m in MODELS]
    return rows
