"""Translation with a trained Seq2Seq model: decode sentences, score them (sacreBLEU, chrF),
and the figures training validates on (loss, perplexity, next-token accuracy, BLEU).

Scores are sacreBLEU's defaults (13a tokenisation of the detokenized, cased output), so they
compare with published figures that state the same signature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from ..models.decode import beam_search, greedy
from ..models.seq2seq import PAD, Seq2Seq


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise ImportError("scoring translations needs sacrebleu: pip install 'dsconv[text]'"
                          ) from None
    return sacrebleu


# What str.splitlines() breaks at besides \n: a translation must stay on its line.
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def detokenize(tokenizer, ids: Sequence[int]) -> str:
    """Target ids -> text on one line (byte pieces may decode to line breaks: made spaces)."""
    return tokenizer.decode(list(ids)).translate(_LINE_BREAKS)


def pad_batch(seqs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Token id sequences -> one (B, longest) tensor padded with PAD."""
    return nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=PAD)


@torch.no_grad()
def translate_ids(model: Seq2Seq, sources: Sequence[torch.Tensor], beam: int = 4,
                  length_penalty: float = 0.6, batch_size: int = 32,
                  device: torch.device | str = "cpu") -> list[list[int]]:
    """Decode each source (S_i,) token ids -> target ids (no BOS/EOS), in the given order.

    Sentences are decoded in batches of like length (sorted, then put back), so a batch pads
    little; beam 1 is greedy decoding.
    """
    model.eval()
    order = sorted(range(len(sources)), key=lambda i: (len(sources[i]), i))
    out: list[list[int]] = [[] for _ in sources]
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        src = pad_batch([sources[i] for i in idx]).to(device)
        if beam == 1:
            tokens, _ = greedy(model, src)
        else:
            tokens, _ = beam_search(model, src, beam=beam, length_penalty=length_penalty)
        for i, t in zip(idx, tokens):
            out[i] = t
    return out


def translate_pairs(model: Seq2Seq, pairs: Dataset, preprocess, beam: int = 4,
                    length_penalty: float = 0.6, device: torch.device | str = "cpu"
                    ) -> list[str]:
    """The translation of every pair's source (its already encoded ids), in order, as text."""
    ids = translate_ids(model, [pairs[i][0] for i in range(len(pairs))], beam, length_penalty,
                        device=device)
    return [detokenize(preprocess.tokenizer_model, t) for t in ids]


def score(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """sacreBLEU and chrF of the hypotheses against one reference each, with their signatures
    (what a published figure must state to compare)."""
    sb = _sacrebleu()
    bleu, chrf = sb.metrics.BLEU(), sb.metrics.CHRF()
    b = bleu.corpus_score(list(hypotheses), [list(references)])
    c = chrf.corpus_score(list(hypotheses), [list(references)])
    return {"bleu": b.score, "chrf": c.score, "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature()), "bleu_detail": str(b)}


@torch.no_grad()
def teacher_forced(model: Seq2Seq, pairs: Dataset, max_tokens: int = 4000,
                   device: torch.device | str = "cpu") -> dict:
    """Mean cross-entropy per target token (no smoothing), its perplexity, and next-token
    top-1 accuracy of `model` on translation pairs, with the true targets fed."""
    model.eval()
    loss = correct = n = 0.0
    for batch in pairs.batch_plan(max_tokens):
        (src, tgt_in), tgt_out, _ = pairs.collate([pairs[i] for i in batch])
        logits = model(src.to(device), tgt_in.to(device)).float()
        y = tgt_out.to(device)
        loss += nn.functional.cross_entropy(logits.flatten(0, -2), y.flatten(),
                                            reduction="sum").item()
        real = y != -100
        correct += (logits.argmax(-1).eq(y) & real).sum().item()
        n += real.sum().item()
    mean = loss / max(n, 1)
    return {"loss": mean, "ppl": math.exp(min(mean, 50.0)), "top1": correct / max(n, 1),
            "tokens": int(n)}


def validate_translation(model: Seq2Seq, pairs: Dataset, preprocess, beam: int = 1,
                         device: torch.device | str = "cpu") -> dict:
    """What training logs each epoch: teacher-forced loss, perplexity and next-token accuracy,
    and sacreBLEU of decoding every pair's source (greedy by default: cheap enough per epoch)."""
    figures = teacher_forced(model, pairs, device=device)
    hyps = translate_pairs(model, pairs, preprocess, beam, device=device)
    figures.update(score(hyps, pairs.references))
    figures["hypotheses"] = hyps
    return figures
