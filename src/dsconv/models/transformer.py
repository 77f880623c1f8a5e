"""The Transformer baseline for SliceNet (Vaswani et al. 2017), from `torch.nn.Transformer`.

    d 256, 3 encoder + 3 decoder layers, 4 heads, feed-forward 1024, pre-norm (norm_first,
    with a final LayerNorm per stack), sinusoidal positions, one embedding shared by source,
    target and softmax (scaled by sqrt(d)); ~7.6 M parameters at vocab 8000, SliceNet-small's
    size.

`decode` runs torch's layers over the whole target with a causal mask. `step` runs the same
layers' weights (in_proj_weight, out_proj, linear1/2, norms) on one position, keeping each
layer's self-attention keys and values and the encoder's projected keys and values, and equals
`decode` within float rounding. Dropout: embeddings and every sublayer (torch's layers);
decoding runs in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..blocks import DotProductAttention, TokenEmbedding
from ..blocks.sequence import (
    check_tokens,
    merge_heads,
    padding_bias,
    reorder_state,
    split_heads,
)
from .base import make_config
from .registry import register_model
from .seq2seq import PAD, Seq2Seq


@dataclass
class TransformerConfig:
    """The baseline's options; a model file stores them flat (`dataclasses.asdict`)."""

    vocab_size: int = 8000     # shared source/target vocabulary (the tokenizer's)
    max_len: int = 256         # most tokens per side, EOS included
    hidden: int = 256          # d_model
    enc_layers: int = 3        # encoder layers
    dec_layers: int = 3        # decoder layers
    heads: int = 4             # attention heads
    ff: int = 1024             # feed-forward width
    drop_rate: float = 0.1     # dropout on embeddings and in every sublayer
    min_input_size: int = 1    # any length (the trainer's size check reads it)


def _project(mha: nn.MultiheadAttention, x: torch.Tensor, part: slice) -> torch.Tensor:
    """x (B, T, d) through the `part` rows of the attention's packed in_proj (q, k, v)."""
    return F.linear(x, mha.in_proj_weight[part], mha.in_proj_bias[part])


class Transformer(Seq2Seq):
    """Transformer: src (B, S), tgt_in (B, T) token ids -> logits (B, T, vocab_size)."""

    def __init__(self, cfg: TransformerConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = make_config(TransformerConfig, cfg, overrides)
        self.cfg = cfg
        d = cfg.hidden
        if cfg.heads < 1 or d % cfg.heads:
            raise ValueError(f"heads={cfg.heads}: must be a positive divisor of hidden={d}")
        layer = dict(d_model=d, nhead=cfg.heads, dim_feedforward=cfg.ff, dropout=cfg.drop_rate,
                     batch_first=True, norm_first=True)
        # Built here to pass enable_nested_tensor=False: nested tensors do not apply to
        # pre-norm layers, and torch warns when asked.
        encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), cfg.enc_layers,
                                        nn.LayerNorm(d), enable_nested_tensor=False)
        decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), cfg.dec_layers,
                                        nn.LayerNorm(d))
        self.core = nn.Transformer(custom_encoder=encoder, custom_decoder=decoder, **layer)
        self.embed = TokenEmbedding(cfg.vocab_size, d)  # after core: its init is xavier's
        self.drop = nn.Dropout(cfg.drop_rate)
        self.attend = DotProductAttention()
        self.d, self.heads = d, cfg.heads

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) -> (encoded (B, S, d), padding (B, S) bool, True at PAD)."""
        check_tokens(src, self.cfg.vocab_size, "source", type(self).__name__)
        pad = src == PAD
        return self.core.encoder(self.drop(self.embed(src)), src_key_padding_mask=pad), pad

    def decode(self, memory: tuple[torch.Tensor, torch.Tensor], tgt_in: torch.Tensor
               ) -> torch.Tensor:
        check_tokens(tgt_in, self.cfg.vocab_size, "target", type(self).__name__)
        enc, pad = memory
        x = self.drop(self.embed(tgt_in))
        causal = nn.Transformer.generate_square_subsequent_mask(x.shape[1], x.device, x.dtype)
        h = self.core.decoder(x, enc, tgt_mask=causal, tgt_is_causal=True,
                              memory_key_padding_mask=pad)
        return self.embed.logits(h)

    def start(self, memory: tuple[torch.Tensor, torch.Tensor]) -> dict:
        enc, pad = memory
        d, layers = self.d, self.core.decoder.layers
        empty = enc.new_zeros(enc.shape[0], self.heads, 0, d // self.heads)
        cross = [tuple(split_heads(_project(layer.multihead_attn, enc, part), self.heads)
                       for part in (slice(d, 2 * d), slice(2 * d, None))) for layer in layers]
        return {"t": 0, "bias": padding_bias(pad, enc.dtype), "cross": cross,
                "self": [(empty, empty) for _ in layers]}

    def _attention(self, mha: nn.MultiheadAttention, x: torch.Tensor,
                   kv: tuple[torch.Tensor, torch.Tensor], bias: torch.Tensor | None
                   ) -> torch.Tensor:
        """One query position x (B, 1, d) over kv (B, H, S, d/H) -> (B, 1, d)."""
        q = split_heads(_project(mha, x, slice(0, self.d)), self.heads)
        return mha.out_proj(merge_heads(self.attend(q, *kv, bias)))

    def step(self, state: dict, tokens: torch.Tensor) -> torch.Tensor:
        d, x = self.d, self.embed(tokens[:, None], start=state["t"])
        for i, layer in enumerate(self.core.decoder.layers):
            h = layer.norm1(x)
            k, v = (split_heads(_project(layer.self_attn, h, part), self.heads)
                    for part in (slice(d, 2 * d), slice(2 * d, None)))
            past_k, past_v = state["self"][i]
            state["self"][i] = kv = (torch.cat([past_k, k], 2), torch.cat([past_v, v], 2))
            x = x + self._attention(layer.self_attn, h, kv, None)
            x = x + self._attention(layer.multihead_attn, layer.norm2(x), state["cross"][i],
                                    state["bias"])
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        state["t"] += 1
        return self.embed.logits(self.core.decoder.norm(x))[:, 0]

    def reorder(self, state: dict, index: torch.Tensor) -> dict:
        return reorder_state(state, index)


@register_model(input_size=(TransformerConfig.max_len,), tokens=True,
                expected=dict(params=7_578_624))
def transformer(**kw: Any) -> Transformer:
    """Transformer baseline (nn.Transformer): d 256, 3+3 pre-norm layers, 4 heads, ff 1024."""
    return Transformer(**kw)
