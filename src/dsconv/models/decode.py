"""Batched decoding of a `Seq2Seq` model: greedy and beam search.

Both feed the model one token per step (`start` / `step` / `reorder`), so a step costs the
same at any position; `greedy(..., recompute=True)` instead runs `decode` over the whole prefix
at every step (quadratic; the reference the incremental path is checked and timed against).

Conventions: `src` (B, S) is PAD-padded source ids ending in EOS; returned sequences hold the
target ids without BOS and EOS. PAD and BOS are never emitted (their log-probability is -inf
before the softmax normalises). A sentence stops at EOS or after `max_len` tokens (EOS
included); by default max_len is its source length + 50, capped by the model's cfg.max_len.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from .seq2seq import BOS, EOS, PAD, Seq2Seq

EXTRA_TOKENS = 50  # default room beyond the source length


@contextmanager
def _inference(model: Seq2Seq) -> Iterator[None]:
    """Eval mode (no dropout) and no autograd for the duration; the mode is put back."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def step_limits(model: Seq2Seq, src: torch.Tensor, max_len: int | None) -> torch.Tensor:
    """Most tokens (EOS included) each sentence may get, (B,) long: `max_len`, or its source
    length + 50 capped by the model's cfg.max_len."""
    if max_len is not None:
        if max_len < 1:
            raise ValueError(f"max_len={max_len}: must be at least 1 (EOS counts)")
        return torch.full((src.shape[0],), max_len, dtype=torch.long, device=src.device)
    cap = getattr(getattr(model, "cfg", None), "max_len", None)
    limit = (src != PAD).sum(1) + EXTRA_TOKENS
    return limit.clamp(max=cap) if cap is not None else limit


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """(..., V) logits -> float32 log-probabilities with PAD and BOS ruled out."""
    logits = logits.float().clone()
    logits[..., PAD] = logits[..., BOS] = float("-inf")
    return logits.log_softmax(-1)


def _check_src(src: torch.Tensor) -> None:
    if src.dim() != 2:
        raise ValueError(f"decoding expects src as (batch, length) token ids, got shape "
                         f"{tuple(src.shape)}; add a batch axis with src.unsqueeze(0)")


def _next_logits(model: Seq2Seq, src: torch.Tensor, recompute: bool
                 ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A function (last tokens (B,), prefix (B, t)) -> next-token logits (B, V)."""
    memory = model.encode(src)
    if recompute:
        return lambda last, prefix: model.decode(memory, prefix)[:, -1]
    state = model.start(memory)
    return lambda last, prefix: model.step(state, last)


def greedy(model: Seq2Seq, src: torch.Tensor, max_len: int | None = None,
           recompute: bool = False) -> tuple[list[list[int]], torch.Tensor]:
    """The most probable token at every step, for a batch of sources.

    src (B, S) -> (tokens: one list of ids per sentence, no BOS/EOS; logprobs (B, steps): the
    log-probability of each emitted token, EOS included, 0 after a sentence ended; its row sum
    is the sentence's log-probability). recompute: run `decode` on the whole prefix each step.
    """
    _check_src(src)
    with _inference(model):
        limits = step_limits(model, src, max_len)
        b = src.shape[0]
        prefix = torch.full((b, 1), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(b, dtype=torch.bool, device=src.device)
        scores: list[torch.Tensor] = []
        next_logits = _next_logits(model, src, recompute)
        for t in range(int(limits.max())):
            lp = log_probs(next_logits(prefix[:, -1], prefix))
            best, tok = lp.max(-1)
            scores.append(best.masked_fill(done, 0.0))
            tok = tok.masked_fill(done, PAD)
            prefix = torch.cat([prefix, tok[:, None]], 1)
            done |= (tok == EOS) | (t + 1 >= limits)
            if bool(done.all()):
                break
    out = [[i for i in row if i not in (PAD, EOS)] for row in prefix[:, 1:].tolist()]
    return out, torch.stack(scores, 1)


def gnmt_penalty(length: int | torch.Tensor, alpha: float) -> float | torch.Tensor:
    """GNMT's lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016, eq. 14); |Y| counts EOS."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(model: Seq2Seq, src: torch.Tensor, beam: int = 4, length_penalty: float = 0.6,
                max_len: int | None = None) -> tuple[list[list[int]], torch.Tensor]:
    """The best of `beam` hypotheses per source by log-probability / lp(length).

    src (B, S) -> (tokens: one list of ids per sentence, no BOS/EOS; scores (B,) their
    length-penalised log-probabilities). Beam 1 is greedy decoding.
    """
    nbest = beam_search_nbest(model, src, beam, length_penalty, max_len)
    tokens = [hyps[0][0] for hyps in nbest]
    return tokens, torch.tensor([hyps[0][1] for hyps in nbest])


def beam_search_nbest(model: Seq2Seq, src: torch.Tensor, beam: int = 4,
                      length_penalty: float = 0.6, max_len: int | None = None
                      ) -> list[list[tuple[list[int], float]]]:
    """Every sentence's `beam` finished hypotheses (ids, score), best score first.

    As fairseq: each step ranks 2*beam continuations of the live hypotheses by log-probability;
    an EOS among the best `beam` of them finishes a hypothesis, the best `beam` others live on.
    A sentence is done with `beam` finished hypotheses; at its length limit the live ones
    finish as they are. Finished ones are then ranked by log-probability / lp(length).
    """
    _check_src(src)
    if beam < 1:
        raise ValueError(f"beam={beam}: must be at least 1")
    with _inference(model):
        search = _BeamSearch(model, src, beam, length_penalty, max_len)
        return search.run()


class _BeamSearch:
    """The state of one batched beam search (see `beam_search_nbest`)."""

    def __init__(self, model: Seq2Seq, src: torch.Tensor, beam: int, alpha: float,
                 max_len: int | None) -> None:
        b, dev = src.shape[0], src.device
        self.model, self.k, self.alpha = model, beam, alpha
        self.limits = step_limits(model, src, max_len).tolist()
        self.state = model.reorder(model.start(model.encode(src)),
                                   torch.arange(b, device=dev).repeat_interleave(beam))
        # Only the first copy of each sentence is live at the start (the others are equal).
        self.logp = torch.full((b, beam), float("-inf"), device=dev)
        self.logp[:, 0] = 0.0
        self.seqs = torch.full((b, beam, 1), BOS, dtype=torch.long, device=dev)
        self.finished: list[list[tuple[list[int], float]]] = [[] for _ in range(b)]
        self.closed = [False] * b  # out of room: nothing more finishes

    def done(self, i: int) -> bool:
        return self.closed[i] or len(self.finished[i]) >= self.k

    def finish(self, i: int, ids: list[int], logp: float) -> None:
        """Keep one hypothesis of sentence i (ids with BOS, maybe EOS) with its score."""
        if not self.done(i):
            body = [t for t in ids[1:] if t != EOS]
            self.finished[i].append((body, logp / gnmt_penalty(len(ids) - 1, self.alpha)))

    def run(self) -> list[list[tuple[list[int], float]]]:
        b, k = self.logp.shape
        for t in range(max(self.limits)):
            lp = log_probs(self.model.step(self.state, self.seqs[:, :, -1].reshape(-1)))
            cand = (self.logp[:, :, None] + lp.view(b, k, -1)).view(b, -1)
            top, idx = cand.topk(2 * k, dim=1)
            self._finish_eos(top, idx, lp.shape[-1])
            self._advance(top, idx, lp.shape[-1])
            for i in range(b):
                if t + 1 >= self.limits[i] and not self.closed[i]:
                    self._close(i)
            if all(self.done(i) for i in range(b)):
                break
        return [sorted(f, key=lambda h: -h[1])[:k] for f in self.finished]

    def _close(self, i: int) -> None:
        """Sentence i is out of room: its live hypotheses finish as they are (no EOS)."""
        for j in range(self.k):
            if self.logp[i, j] > float("-inf"):
                self.finish(i, self.seqs[i, j].tolist(), float(self.logp[i, j]))
        self.closed[i] = True

    def _finish_eos(self, top: torch.Tensor, idx: torch.Tensor, vocab: int) -> None:
        """EOS among each sentence's best `beam` candidates finishes that hypothesis."""
        eos = (idx[:, :self.k] % vocab == EOS) & (top[:, :self.k] > float("-inf"))
        for i, r in eos.nonzero().tolist():
            j = int(idx[i, r]) // vocab
            self.finish(i, self.seqs[i, j].tolist() + [EOS], float(top[i, r]))

    def _advance(self, top: torch.Tensor, idx: torch.Tensor, vocab: int) -> None:
        """The best `beam` non-EOS candidates live on; the model's state follows them."""
        b, k = self.logp.shape
        rank = torch.arange(2 * k, device=top.device).expand(b, -1)
        order = (rank + 2 * k * (idx % vocab == EOS)).argsort(1)[:, :k]  # non-EOS first
        pick, score = idx.gather(1, order), top.gather(1, order)
        parent, tok = pick // vocab, pick % vocab
        self.seqs = torch.cat([self.seqs.gather(1, parent[:, :, None].expand(
            -1, -1, self.seqs.shape[2])), tok[:, :, None]], 2)
        self.logp = score
        flat = (parent + torch.arange(b, device=top.device)[:, None] * k).reshape(-1)
        self.state = self.model.reorder(self.state, flat)
