"""Per-layer parameters, multiply-adds and activation memory, counted from a real forward pass.

Forward hooks on every leaf module record what actually ran (output shapes included), so the
figures cannot drift from the model the way a hand-kept table can.

What is counted: multiply-adds (MACs) of convolutions and linear layers, per sample, bias adds
and normalisation / activation / pooling excluded (the convention of the MobileNet and Xception
papers). Activation bytes are each layer's output, per sample, at the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..layers import DEPTHWISE


@dataclass
class LayerCost:
    name: str            # module path in the model
    type: str            # conv | depthwise | pointwise | grouped | linear | <class name>
    output_shape: tuple[int, ...]  # per sample (no batch axis)
    params: int
    macs: int
    act_bytes: int


@dataclass
class Profile:
    rows: list[LayerCost] = field(default_factory=list)
    trainable_params: int = 0
    non_trainable_params: int = 0   # BN running mean / variance (Keras's "non-trainable")
    macs: int = 0
    act_bytes: int = 0
    input_shape: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)


def conv_kind(m: nn.modules.conv._ConvNd) -> str:
    """Classify a convolution: 'pointwise', 'depthwise', 'grouped' or 'conv'."""
    if isinstance(m, tuple(DEPTHWISE.values())):
        return "depthwise"  # by construction, even with a single channel (groups == 1)
    if m.groups == 1:
        return "pointwise" if all(k == 1 for k in m.kernel_size) else "conv"
    if m.groups == m.in_channels:
        return "depthwise"
    return "grouped"


def layer_macs(m: nn.Module, out: torch.Tensor) -> int:
    """Multiply-adds of one call of `m` producing `out`, for one sample."""
    per_sample = out.numel() // max(out.shape[0], 1)
    if isinstance(m, nn.modules.conv._ConvNd):
        return per_sample * (m.in_channels // m.groups) * math.prod(m.kernel_size)
    if isinstance(m, nn.Linear):
        return per_sample * m.in_features
    return 0


def profile(model: nn.Module, input_size: int | Sequence[int], in_chans: int | None = None,
            dtype: torch.dtype = torch.float32) -> Profile:
    """Run one (1, C, *input_size) sample through `model` and count costs per leaf layer.

    input_size: an int (square image) or the spatial sizes, e.g. (224, 224) or (128,) for 1-D.
    in_chans: defaults to model.cfg.in_chans where the model has a config.
    """
    if in_chans is None:
        in_chans = getattr(getattr(model, "cfg", None), "in_chans", 3)
    spatial = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    result = Profile(input_shape=(in_chans, *spatial))
    seen: set[int] = set()
    names = {m: n for n, m in model.named_modules()}

    def hook(m: nn.Module, _inp, out) -> None:
        if not isinstance(out, torch.Tensor):
            return
        first = id(m) not in seen
        seen.add(id(m))
        params = sum(p.numel() for p in m.parameters(recurse=False)) if first else 0
        kind = conv_kind(m) if isinstance(m, nn.modules.conv._ConvNd) else (
            "linear" if isinstance(m, nn.Linear) else type(m).__name__)
        result.rows.append(LayerCost(
            names[m], kind, tuple(out.shape[1:]), params, layer_macs(m, out),
            out.numel() // max(out.shape[0], 1) * out.element_size(),
        ))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(1, *result.input_shape, dtype=dtype, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    result.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result.non_trainable_params = bn_stat_count(model) + sum(
        p.numel() for p in model.parameters() if not p.requires_grad)
    result.macs = sum(r.macs for r in result.rows)
    result.act_bytes = sum(r.act_bytes for r in result.rows)
    return result


def bn_stat_count(model: nn.Module) -> int:
    """BatchNorm running means and variances: what Keras counts as non-trainable parameters."""
    return sum(b.numel() for n, b in model.named_buffers()
               if n.endswith(("running_mean", "running_var")))
