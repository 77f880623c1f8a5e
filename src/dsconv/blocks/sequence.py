"""Blocks of the translation models (SliceNet and the Transformer baseline).

Positions (`timing_signal`), the shared input/output embedding (`TokenEmbedding`), dot-product
attention over an encoder with a padding bias (`attend`, `EncoderAttention`), and SliceNet's
convolution step and module (`ConvStep`, `ConvModule`). Each decoder block can also run one
token at a time: `start` makes its state, `step` feeds one position and returns the new state.
A causal conv's state is its last (k-1)*d inputs and an attention's is the encoder's projected
keys and values, so a step costs the same at position 50 as at position 1.

Layout: (B, T, C) throughout (attention and LayerNorm work on the last axis); the convs run
channels-last (`conv(x, channels_last=True)`: the 1x1 as one matrix product, the depthwise
step by oneDNN's channels-last kernel): a SliceNet training step took ~1.5x as long moving to
(B, C, T) and back. States are nested lists / tuples / dicts of batch-first tensors, so
`reorder_state` serves every model's beam search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .conv import ConvStyle

LN_EPS = 1e-6  # tensor2tensor's norm_epsilon


def timing_signal(length: int, channels: int, start: int = 0,
                  device: torch.device | None = None, dtype: torch.dtype = torch.float32
                  ) -> torch.Tensor:
    """Sinusoidal positions start..start+length-1 -> (length, channels): sines on the first
    half of the channels, cosines on the second, timescales 1 to 1e4 in geometric steps
    (tensor2tensor's get_timing_signal_1d; an odd channel count gets a zero last channel)."""
    half = channels // 2
    step = math.log(1.0e4) / max(half - 1, 1)
    inv = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -step)
    pos = torch.arange(start, start + length, device=device, dtype=torch.float32)
    angles = pos[:, None] * inv[None, :]
    signal = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(signal, (0, channels % 2)).to(dtype)


def padding_bias(pad: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """pad (B, S) bool, True at padding -> additive attention bias (B, 1, 1, S): 0 at tokens,
    -1e9 at pads (finite: a row that is all padding gets uniform weights, not NaN)."""
    big = max(-1.0e9, torch.finfo(dtype).min)
    return (pad.to(dtype) * big)[:, None, None, :]


def check_tokens(ids: torch.Tensor, vocab_size: int, what: str, model: str) -> None:
    """Raise a ValueError naming the problem unless `ids` is a (B, T) batch of ids < vocab."""
    if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"{model} expects {what} as a (batch, length) tensor of integer token "
                         f"ids, got shape {tuple(ids.shape)} of {ids.dtype}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"{model}: {what} ids must lie in [0, {vocab_size}) (the model's "
                         f"vocab_size), got {int(ids.min())}..{int(ids.max())}; encode with "
                         "the tokenizer the model was built for")


def reorder_state(state: Any, index: torch.Tensor) -> Any:
    """The state of the batch rows `index` picks: every tensor's first axis, recursively
    through lists, tuples and dicts; other values (positions) are kept."""
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    if isinstance(state, dict):
        return {k: reorder_state(v, index) for k, v in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(reorder_state(v, index) for v in state)
    return state


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, C) -> (B, heads, T, C / heads)."""
    b, t, c = x.shape
    return x.view(b, t, heads, c // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, T, D) -> (B, T, heads * D)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class DotProductAttention(nn.Module):
    """softmax(q k^T / sqrt(D) + bias) v, a module so the cost profiler sees its 2*T*S*D
    multiply-adds per head. q (B, H, T, D), k and v (B, H, S, D), bias broadcastable to
    (B, H, T, S) or None -> (B, H, T, D)."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


class TokenEmbedding(nn.Module):
    """The embedding shared by source, target and softmax (tensor2tensor's
    shared_embedding_and_softmax_weights): ids -> E[ids] * sqrt(C) + positions, and
    `logits(x) = x E^T`. E starts at normal(0, C^-1/2), so the scaled embedding has unit size.
    """

    def __init__(self, vocab_size: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.embed = nn.Embedding(vocab_size, channels)
        nn.init.normal_(self.embed.weight, std=channels ** -0.5)
        self.out = nn.Linear(channels, vocab_size, bias=False)
        self.out.weight = self.embed.weight  # tied: one matrix, counted once

    def forward(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """ids (B, T) at positions start.. -> (B, T, C)."""
        x = self.embed(ids) * math.sqrt(self.channels)
        return x + timing_signal(ids.shape[1], self.channels, start, x.device, x.dtype)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, vocab)."""
        return self.out(x)


class EncoderAttention(nn.Module):
    """Attention from the decoder over the encoder, as SliceNet adds it: LN(x + attended).

    Queries, keys, values and output are projected (no bias) and split into `heads` heads;
    `keys_values` projects the encoder once per sentence (decoding caches it).
    x (B, T, C), memory (B, S, C), bias (B, 1, 1, S) -> (B, T, C).
    """

    def __init__(self, channels: int, heads: int = 1) -> None:
        super().__init__()
        if heads < 1 or channels % heads:
            raise ValueError(f"heads={heads}: must be a positive divisor of the {channels} "
                             "channels")
        self.heads = heads
        self.query, self.key, self.value, self.out = (
            nn.Linear(channels, channels, bias=False) for _ in range(4))
        self.attend = DotProductAttention()
        self.norm = nn.LayerNorm(channels, eps=LN_EPS)

    def keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """memory (B, S, C) -> keys and values (B, heads, S, C / heads)."""
        return split_heads(self.key(memory), self.heads), split_heads(self.value(memory),
                                                                      self.heads)

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor],
                bias: torch.Tensor) -> torch.Tensor:
        q = split_heads(self.query(x), self.heads)
        return self.norm(x + self.out(merge_heads(self.attend(q, *kv, bias))))


class ConvStep(nn.Module):
    """SliceNet's convolution step: LayerNorm(Conv(ReLU(x))), the conv without bias (the norm
    follows) and built by `style` (separable, super-separable or regular).

    causal: left padding, output t sees inputs <= t (the decoder); else TensorFlow 'same'.
    forward: x (B, T, C_in), mask (B, T, 1) or None (zeros the padding before the conv, so
    pads never reach a real token) -> (B, T, C_out).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, dilation: int, style: ConvStyle,
                 causal: bool = False) -> None:
        super().__init__()
        self.in_ch, self.causal = in_ch, causal
        self.context = (kernel - 1) * dilation  # past inputs a causal step needs
        self.conv = style.sep_conv(in_ch, out_ch, kernel, padding="causal" if causal else "same",
                                   dilation=dilation)
        self.norm = nn.LayerNorm(out_ch, eps=LN_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(x)
        if mask is not None:
            h = h * mask
        return self.norm(self.conv(h, channels_last=True))

    def start(self, like: torch.Tensor) -> torch.Tensor:
        """The empty state for the batch of `like` (B, ...): (B, C_in, context) zeros, what
        the causal padding holds before the first token."""
        if not self.causal:
            raise ValueError("only a causal ConvStep decodes step by step")
        return like.new_zeros(like.shape[0], self.in_ch, self.context)

    def step(self, x: torch.Tensor, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One position: x (B, 1, C_in), window (B, C_in, context) of past conv inputs ->
        (B, 1, C_out), the window moved on by one."""
        full = torch.cat([window, F.relu(x).transpose(1, 2)], dim=2)
        y = self.conv.forward_valid(full).transpose(1, 2)
        return self.norm(y), full[:, :, 1:]


class ConvModule(nn.Module):
    """SliceNet's convolution module (tensor2tensor's multi_conv_res layer), n >= 3 steps:

        y = steps[1](steps[0](x));  out = x + steps[n-1](...steps[2](x + y)) + y

    kernels, dilations: one per step (the paper: 3/7/15/31, dilations 1 or 1/2/4/8).
    (B, T, C) -> (B, T, C); mask as in `ConvStep`.
    """

    def __init__(self, channels: int, kernels: tuple[int, ...], dilations: tuple[int, ...],
                 style: ConvStyle, causal: bool = False) -> None:
        super().__init__()
        if len(kernels) < 3 or len(kernels) != len(dilations):
            raise ValueError(f"kernels={tuple(kernels)}, dilations={tuple(dilations)}: need "
                             "3 or more kernels and one dilation per kernel")
        self.steps = nn.ModuleList(ConvStep(channels, channels, k, d, style, causal)
                                   for k, d in zip(kernels, dilations))

    def _combine(self, x: torch.Tensor, run: Callable[[int, torch.Tensor], torch.Tensor]
                 ) -> torch.Tensor:
        """The module's wiring, `run(i, h)` applying step i (whole sequence or one token)."""
        y = run(1, run(0, x))
        z = x + y
        for i in range(2, len(self.steps)):
            z = run(i, z)
        return x + z + y

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self._combine(x, lambda i, h: self.steps[i](h, mask))

    def start(self, like: torch.Tensor) -> list[torch.Tensor]:
        """One window per step (causal modules only)."""
        return [s.start(like) for s in self.steps]

    def step(self, x: torch.Tensor, state: list[torch.Tensor]
             ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One position: x (B, 1, C), the module's windows -> (B, 1, C), new windows."""
        new = list(state)

        def run(i: int, h: torch.Tensor) -> torch.Tensor:
            out, new[i] = self.steps[i].step(h, state[i])
            return out

        return self._combine(x, run), new
