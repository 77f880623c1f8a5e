"""BatchNorm folding: every conv -> BN pair becomes one conv, for inference.

`fuse_bn` folds every BatchNorm into the convolution that feeds it: a BN after a separable
conv goes into its last step (the pointwise conv, or the depthwise one for pointwise-first),
an intermediate BN (MobileNet's) into the first step. Per output channel c of a convolution
with weight W and bias b: W'[c] = W[c] * s[c], b'[c] = (b[c] - mean[c]) * s[c] + beta[c],
s = gamma / sqrt(var + eps). That holds for grouped and depthwise convs (depth multiplier
included) because BN acts per output channel; a missing bias is created, not assumed zero
(ncnn#1339's bug was dropping an existing depthwise bias).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..layers import SeparableConv

_Conv = nn.modules.conv._ConvNd
_BN = nn.modules.batchnorm._BatchNorm


@torch.no_grad()
def fold_bn_into_conv(conv: _Conv, bn: _BN) -> None:
    """Fold `bn` (applied to conv's output) into `conv`, in place."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.mul_(scale.view(-1, *([1] * (conv.weight.dim() - 1))))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * scale + bn.bias
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


def _last_conv(m: nn.Module) -> _Conv | None:
    if isinstance(m, SeparableConv):
        return m.pointwise if m.order == "depthwise_first" else m.depthwise
    return m if isinstance(m, _Conv) else None


def fuse_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of `model` (in eval mode) with every conv -> BN pair folded into the conv.

    Same outputs as model.eval() up to float rounding (checked in the tests to 1e-4).
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    for m in list(model.modules()):
        if isinstance(m, SeparableConv) and isinstance(m.mid_norm, _BN):
            first = m.depthwise if m.order == "depthwise_first" else m.pointwise
            fold_bn_into_conv(first, m.mid_norm)
            m.mid_norm = nn.Identity()
        if isinstance(m, nn.Sequential):
            names = list(m._modules)
            for a, b in zip(names, names[1:]):
                conv = _last_conv(m._modules[a])
                if conv is not None and isinstance(m._modules[b], _BN):
                    fold_bn_into_conv(conv, m._modules[b])
                    m._modules[b] = nn.Identity()
    return model
