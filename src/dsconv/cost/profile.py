"""Per-layer parameters, multiply-adds and activation memory, counted from a real forward pass.

Forward hooks on every leaf module record what actually ran (output shapes included), so the
figures cannot drift from the model the way a hand-kept table can.

What is counted: multiply-adds (MACs) of convolutions and linear layers, per sample, bias adds
and normalisation / activation / pooling excluded (the convention of the MobileNet and Xception
papers). Activation bytes are each layer's output, per sample, at the input's dtype.

Translation models (`Seq2Seq`) run one (source, target) pair of `input_size` tokens each;
attention adds its projections and its 2*T*S*d score and weighting products, a parameter
shared by two layers (a tied embedding and softmax) counts once, and `macs_per_token` is the
pair's MACs over its target tokens (encoder included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..blocks import DotProductAttention
from ..layers import DEPTHWISE
from ..models.seq2seq import BOS, UNK, Seq2Seq


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
    non_trainable_params: int = 0   # BN running stats, fixed filters (Keras's "non-trainable")
    macs: int = 0
    act_bytes: int = 0
    input_shape: tuple[int, ...] = ()
    tokens: int = 0          # target tokens per sample (translation models), else 0
    macs_per_token: int = 0  # macs / tokens (translation models), else 0

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


def attention_macs(q: torch.Tensor, k: torch.Tensor) -> int:
    """Scores q k^T and the weighted sum of values, per sample: 2 * T * S * d."""
    return 2 * q.shape[-2] * k.shape[-2] * (q[0].numel() // q.shape[-2])


def mha_macs(m: nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor) -> int:
    """torch's MultiheadAttention (batch first) per sample: the q, k, v and output projections
    (it calls none of them as modules) and the attention products."""
    t, s, e = q.shape[-2], k.shape[-2], m.embed_dim
    return t * e * e * 2 + s * (m.kdim + m.vdim) * e + 2 * t * s * e


def layer_macs(m: nn.Module, out: torch.Tensor, inputs: tuple = ()) -> int:
    """Multiply-adds of one call of `m` producing `out` from `inputs`, for one sample."""
    per_sample = out.numel() // max(out.shape[0], 1)
    if isinstance(m, nn.modules.conv._ConvNd):
        return per_sample * (m.in_channels // m.groups) * math.prod(m.kernel_size)
    if isinstance(m, nn.Linear):
        return per_sample * m.in_features
    if isinstance(m, DotProductAttention):
        return attention_macs(inputs[0], inputs[1])
    if isinstance(m, nn.MultiheadAttention):
        return mha_macs(m, inputs[0], inputs[1])
    return 0


def example_input(model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype,
                  device: torch.device) -> tuple[torch.Tensor, ...]:
    """What `profile` feeds: zeros (1, *shape), or for a translation model a source and a
    target of shape[0] tokens each (no padding)."""
    if isinstance(model, Seq2Seq):
        ids = torch.full((1, shape[0]), UNK, dtype=torch.long, device=device)
        tgt = ids.clone()
        tgt[:, 0] = BOS
        return ids, tgt
    return (torch.zeros(1, *shape, dtype=dtype, device=device),)


def profile(model: nn.Module, input_size: int | Sequence[int], in_chans: int | None = None,
            dtype: torch.dtype = torch.float32) -> Profile:
    """Run one (1, C, *input_size) sample through `model` and count costs per leaf layer.

    input_size: an int (square image) or the spatial sizes, e.g. (224, 224) or (128,) for 1-D;
    for a translation model (`Seq2Seq`), (tokens,) per side.
    in_chans: defaults to model.cfg.in_chans where the model has a config.
    """
    seq2seq = isinstance(model, Seq2Seq)
    if in_chans is None:
        in_chans = getattr(getattr(model, "cfg", None), "in_chans", 3)
    spatial = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    result = Profile(input_shape=spatial if seq2seq else (in_chans, *spatial))
    handles = _add_hooks(model, result)
    was_training, fastpath = model.training, torch.backends.mha.get_fastpath_enabled()
    try:
        model.eval()
        # torch's fused transformer path calls no submodule: the hooks would see nothing.
        torch.backends.mha.set_fastpath_enabled(False)
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(*example_input(model, result.input_shape, dtype, device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        torch.backends.mha.set_fastpath_enabled(fastpath)
    result.trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result.non_trainable_params = bn_stat_count(model) + fixed_weight_count(model) + sum(
        p.numel() for p in model.parameters() if not p.requires_grad)
    result.macs = sum(r.macs for r in result.rows)
    result.act_bytes = sum(r.act_bytes for r in result.rows)
    if seq2seq:
        result.tokens = spatial[0]
        result.macs_per_token = result.macs // spatial[0]
    return result


def _add_hooks(model: nn.Module, result: Profile) -> list:
    """Forward hooks that append a LayerCost per call of every leaf layer (and of torch's
    MultiheadAttention, whose projections run inside it) to `result.rows`."""
    seen_params: set[int] = set()
    names = {m: n for n, m in model.named_modules()}

    def hook(m: nn.Module, args: tuple, kwargs: dict, out) -> None:
        if isinstance(m, nn.MultiheadAttention):
            out = out[0]
            args = args or (kwargs.get("query"), kwargs.get("key"))
        if not isinstance(out, torch.Tensor):
            return
        own = m.parameters(recurse=isinstance(m, nn.MultiheadAttention))
        new = [p for p in own if id(p) not in seen_params]  # shared ones count once
        seen_params.update(id(p) for p in new)
        kind = conv_kind(m) if isinstance(m, nn.modules.conv._ConvNd) else (
            "linear" if isinstance(m, nn.Linear) else
            "attention" if isinstance(m, DotProductAttention | nn.MultiheadAttention) else
            type(m).__name__)
        result.rows.append(LayerCost(
            names[m], kind, tuple(out.shape[1:]), sum(p.numel() for p in new),
            layer_macs(m, out, args), out.numel() // max(out.shape[0], 1) * out.element_size(),
        ))

    hooked = [m for m in model.modules()
              if not list(m.children()) or isinstance(m, nn.MultiheadAttention)]
    return [m.register_forward_hook(hook, with_kwargs=True) for m in hooked]


def bn_stat_count(model: nn.Module) -> int:
    """BatchNorm running means and variances: what Keras counts as non-trainable parameters."""
    return sum(b.numel() for n, b in model.named_buffers()
               if n.endswith(("running_mean", "running_var")))


def fixed_weight_count(model: nn.Module) -> int:
    """Convolution weights held as buffers, never trained (`FixedConv1d`: LITE's hand-crafted
    filters): what Keras counts as non-trainable for a `trainable=False` kernel."""
    return sum(m.weight.numel() for m in model.modules()
               if isinstance(m, nn.modules.conv._ConvNd) and not isinstance(m.weight, nn.Parameter))
