"""SliceNet (Kaiser, Gomez, Chollet 2017, "Depthwise Separable Convolutions for Neural Machine
Translation", arXiv 1706.03059), after tensor2tensor's models/slicenet.py.

    encoder: E[src] * sqrt(C) + timing -> enc_layers x ConvModule ('same', padding masked)
             -> LayerNorm
    IO mixer: shifted targets E[tgt_in] * sqrt(C) + timing = t; a = attention(t, encoder);
              one causal ConvStep over [a, t] (2C -> C)
    decoder: dec_layers x (causal ConvModule; x += attention(x, encoder)) -> LayerNorm
             -> logits x E^T

A ConvModule is four ConvSteps, LayerNorm(Conv(ReLU(x))): y = step(k3) -> step(k7);
x + step(k15) -> step(k31) applied to x + y, plus y. The convs are separable (k*c + c^2
parameters), super-separable (`groups` slices: k*c + c^2/g) or regular (k*c^2: the
`slicenet_standard` twin). Dropout follows each stack. Decoding one token at a time keeps each
causal conv's last (k-1)*d inputs and each attention's projected encoder keys and values.

Where this differs from tensor2tensor:
* Super-separable convs use one group count for every step; t2t varies it per step
  (separability -2 gives groups 3, 2, 3, 2 in a module and 3, 2 in the attention's convs).
* Attention projects queries, keys and values (`heads` heads, default 1) and returns
  LN(x + attended); t2t's "simple" attention has no projections, and its queries come from
  two causal convs (kernel 5, dilations 1 and 4) over the timed targets.
* The shifted targets get the timing signal in the embedding (t2t times them only inside the
  attention's query convs); there is no target-space embedding (one language pair).
* The IO mixer's conv uses the model's separability; t2t uses a grouped regular conv
  (separability 4) there.
* A LayerNorm ends each stack. Every module adds to the residual stream, so without it the
  stream's scale grows with depth: slicenet_small started at a loss of ~30 nats against
  ln(8000) = 9 (9.5 with the norms) and the encoder's keys saturated the attention.
* The convs run channels-last (`conv(x, channels_last=True)`), the same numbers as (B, C, T)
  and about 1.5x faster on CPU at these shapes.
* No symbol dropout; label smoothing (slicenet_1: 0.1) belongs to the trainer's loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..blocks import ConvModule, ConvStep, ConvStyle, EncoderAttention, TokenEmbedding
from ..blocks.sequence import LN_EPS, check_tokens, padding_bias, reorder_state
from .base import make_config
from .registry import register_model
from .seq2seq import PAD, Seq2Seq

SEPARABILITIES = ("separable", "super", "standard")


@dataclass
class SliceNetConfig:
    """SliceNet's options; a model file stores them flat (`dataclasses.asdict`).

    The defaults are `slicenet_small`, sized for a CPU (about the Transformer baseline's
    parameters at vocab 8000); `slicenet` is the paper's slicenet_1 size.
    """

    vocab_size: int = 8000                     # shared source/target vocabulary (tokenizer's)
    max_len: int = 256                         # most tokens per side, EOS included
    hidden: int = 256                          # channels everywhere (t2t hidden_size)
    enc_layers: int = 7                        # encoder ConvModules (t2t: int(1.5 * dec))
    dec_layers: int = 5                        # decoder ConvModules, each + attention
    kernels: tuple[int, ...] = (3, 7, 15, 31)  # one per ConvStep of a module (kernel_scheme)
    dilations: tuple[int, ...] = (1, 1, 1, 1)  # one per kernel; the paper also 1/2/4/8
    separability: str = "separable"            # 'separable' | 'super' (groups) | 'standard'
    groups: int = 2                            # channel slices of a 'super'-separable conv
    heads: int = 1                             # attention heads over the encoder
    drop_rate: float = 0.1                     # dropout after the encoder and decoder stacks
    min_input_size: int = 1                    # any length (the trainer's size check reads it)

    def __post_init__(self) -> None:
        if self.separability not in SEPARABILITIES:
            raise ValueError(f"separability={self.separability!r}: expected one of "
                             f"{', '.join(map(repr, SEPARABILITIES))}")
        if self.separability == "super" and self.groups < 2:
            raise ValueError(f"groups={self.groups}: separability='super' needs 2 or more "
                             "groups (groups=1 is 'separable')")
        if len(self.kernels) != len(self.dilations):
            raise ValueError(f"kernels={self.kernels} and dilations={self.dilations}: give "
                             "one dilation per kernel")

    def style(self) -> ConvStyle:
        """The convolution style `separability` names (1-D, the 'super' groups)."""
        mode = "standard" if self.separability == "standard" else "separable"
        groups = self.groups if self.separability == "super" else 1
        return ConvStyle(dims=1, conv_mode=mode, groups=groups)


class SliceNet(Seq2Seq):
    """SliceNet: src (B, S), tgt_in (B, T) token ids -> logits (B, T, vocab_size)."""

    def __init__(self, cfg: SliceNetConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = make_config(SliceNetConfig, cfg, overrides)
        self.cfg = cfg
        c, style = cfg.hidden, cfg.style()
        self.embed = TokenEmbedding(cfg.vocab_size, c)
        self.encoder = nn.ModuleList(ConvModule(c, cfg.kernels, cfg.dilations, style)
                                     for _ in range(cfg.enc_layers))
        self.mix_attn = EncoderAttention(c, cfg.heads)
        self.mix = ConvStep(2 * c, c, cfg.kernels[0], 1, style, causal=True)
        self.decoder = nn.ModuleList(ConvModule(c, cfg.kernels, cfg.dilations, style, True)
                                     for _ in range(cfg.dec_layers))
        self.attn = nn.ModuleList(EncoderAttention(c, cfg.heads) for _ in range(cfg.dec_layers))
        # Each module adds to the residual stream, so its scale grows with depth: the final
        # norms keep the encoder's keys and the logits at unit scale from the start.
        self.enc_norm = nn.LayerNorm(c, eps=LN_EPS)
        self.dec_norm = nn.LayerNorm(c, eps=LN_EPS)
        self.drop = nn.Dropout(cfg.drop_rate)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) -> (encoded (B, S, C), attention bias (B, 1, 1, S) of the padding)."""
        check_tokens(src, self.cfg.vocab_size, "source", type(self).__name__)
        x = self.embed(src)
        mask = (src != PAD).unsqueeze(-1).to(x.dtype)
        for module in self.encoder:
            x = module(x, mask) * mask
        return self.drop(self.enc_norm(x)), padding_bias(src == PAD, x.dtype)

    def _keys_values(self, enc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [a.keys_values(enc) for a in (self.mix_attn, *self.attn)]

    def _decoder(self, x: torch.Tensor, kv: list, bias: torch.Tensor, run: Any) -> torch.Tensor:
        """The decoder's wiring; `run(j, module, h)` applies causal unit j (0: the mixer's
        step, then the modules) to the whole target or to one position."""
        t = x
        x = run(0, self.mix, torch.cat([self.mix_attn(t, kv[0], bias), t], dim=-1))
        for j, (module, attn) in enumerate(zip(self.decoder, self.attn), start=1):
            x = run(j, module, x)
            x = x + attn(x, kv[j], bias)
        return self.embed.logits(self.drop(self.dec_norm(x)))

    def decode(self, memory: tuple[torch.Tensor, torch.Tensor], tgt_in: torch.Tensor
               ) -> torch.Tensor:
        check_tokens(tgt_in, self.cfg.vocab_size, "target", type(self).__name__)
        enc, bias = memory
        return self._decoder(self.embed(tgt_in), self._keys_values(enc), bias,
                             lambda j, module, h: module(h))

    def start(self, memory: tuple[torch.Tensor, torch.Tensor]) -> dict:
        enc, bias = memory
        units = [self.mix, *self.decoder]
        return {"t": 0, "bias": bias, "kv": self._keys_values(enc),
                "conv": [u.start(enc) for u in units]}

    def step(self, state: dict, tokens: torch.Tensor) -> torch.Tensor:
        conv = state["conv"]

        def run(j: int, unit: nn.Module, h: torch.Tensor) -> torch.Tensor:
            out, conv[j] = unit.step(h, conv[j])
            return out

        x = self.embed(tokens[:, None], start=state["t"])
        logits = self._decoder(x, state["kv"], state["bias"], run)
        state["t"] += 1
        return logits[:, 0]

    def reorder(self, state: dict, index: torch.Tensor) -> dict:
        return reorder_state(state, index)


SMALL = SliceNetConfig()
PAPER = SliceNetConfig(hidden=768, enc_layers=6, dec_layers=4, separability="super", groups=2,
                       drop_rate=0.5)
STANDARD = SliceNetConfig(separability="standard")


@register_model(input_size=(SMALL.max_len,), tokens=True, expected=dict(params=7_100_416))
def slicenet_small(**kw: Any) -> SliceNet:
    """SliceNet sized for a CPU: hidden 256, 7+5 separable modules (~the transformer's size)."""
    return SliceNet(SMALL, **kw)


@register_model(input_size=(PAPER.max_len,), tokens=True, expected=dict(params=30_835_200))
def slicenet(**kw: Any) -> SliceNet:
    """SliceNet at the paper's slicenet_1 size: hidden 768, 6+4 super-separable (g=2) modules."""
    return SliceNet(PAPER, **kw)


@register_model(input_size=(STANDARD.max_len,), tokens=True, expected=dict(params=48_083_456))
def slicenet_standard(**kw: Any) -> SliceNet:
    """slicenet_small's twin: every separable conv a regular conv (k*c^2 parameters)."""
    return SliceNet(STANDARD, **kw)
