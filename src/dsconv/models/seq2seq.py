"""What a translation model (sequence to sequence over token ids) provides, so that training,
decoding and the commands treat SliceNet and the Transformer baseline alike.

Token ids are shared with the tokenizer (dsconv.data.tokenizer): 0 pads, 1 is unknown, 2 begins
a target sequence and 3 ends one. Targets are fed shifted: tgt_in = [BOS, y1, ..., yn] and the
model predicts tgt_out = [y1, ..., yn, EOS].
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class Seq2Seq(nn.Module):
    """An encoder-decoder over token ids. Subclasses implement the five methods below.

    `forward` is what training calls (teacher forcing); `encode` + `start` + `step` is what
    decoding calls, one target token at a time, each step costing the same at any position
    (causal convolutions keep their last (k-1)*d inputs; attention keeps its keys and values).
    `reorder` lets beam search keep the states of the hypotheses it keeps.
    """

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """src (B, S) and tgt_in (B, T) token ids, PAD-padded -> logits (B, T, vocab)."""
        return self.decode(self.encode(src), tgt_in)

    def encode(self, src: torch.Tensor) -> Any:
        """src (B, S) -> the encoder's output and padding mask, as `decode`/`start` take it."""
        raise NotImplementedError

    def decode(self, memory: Any, tgt_in: torch.Tensor) -> torch.Tensor:
        """The whole target at once (recomputed): tgt_in (B, T) -> logits (B, T, vocab)."""
        raise NotImplementedError

    def start(self, memory: Any) -> Any:
        """An empty incremental decoder state for the batch `memory` encodes."""
        raise NotImplementedError

    def step(self, state: Any, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per sequence, tokens (B,), updating `state` -> logits (B, vocab) of
        the next token. After feeding tgt_in[:, :t+1] it equals decode(...)[:, t]."""
        raise NotImplementedError

    def reorder(self, state: Any, index: torch.Tensor) -> Any:
        """The state of the sequences `index` (B',) picks (beam search keeps some, repeats some)."""
        raise NotImplementedError
