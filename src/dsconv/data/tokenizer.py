"""`Tokenizer`: one sentencepiece model over both languages of a translation pair.

    tok = Tokenizer.train(sources + targets, vocab_size=8000)   # joint BPE (or 'unigram')
    tok.encode("A dog runs.")          # [57, 912, 4051, 7]   (no BOS/EOS: the data adds them)
    tok.decode([57, 912, 4051, 7])     # 'A dog runs.'
    Tokenizer.from_bytes(tok.to_bytes())   # the model as a model file stores it

Ids 0-3 are PAD, UNK, BOS, EOS (dsconv.models.seq2seq). Choices, and why:
- No normalisation (`identity`, extra whitespace kept) and byte fallback: decode(encode(line))
  gives back every line exactly, a character never seen in training included (it becomes its
  UTF-8 bytes, not UNK). sentencepiece's default NFKC rules collapse double spaces (130
  Multi30k training lines have them) and turn unseen characters into UNK.
- Deterministic: all sentences, in order, no sampling, a fixed thread count (the unigram
  trainer's sums depend on it): the same text gives the same bytes on any machine, so a
  resumed run that retrains its tokenizer gets the ids it began with.
- Quiet: sentencepiece's training log is off; a vocabulary clamped to what a small text
  allows is said once.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Sequence

from ..models.seq2seq import BOS, EOS, PAD, UNK

MODEL_TYPES = ("bpe", "unigram")
DEFAULT_VOCAB = 8000
DEFAULT_MODEL_TYPE = "bpe"   # 8x faster to train than unigram on Multi30k, ~3% fewer tokens
_BYTE_PIECES = 256           # byte fallback's <0x00> .. <0xFF>
_SPECIAL = 4                 # PAD, UNK, BOS, EOS
_THREADS = 16                # fixed (sentencepiece's default): results must not follow the host
_SPACE = "\u2581"            # how sentencepiece writes a space inside pieces


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise ImportError("text needs sentencepiece: pip install 'dsconv[text]'") from None
    return sentencepiece


class Tokenizer:
    """A trained sentencepiece model; see the module docstring."""

    def __init__(self, model: bytes) -> None:
        spm = _sentencepiece()
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=model)
        except (RuntimeError, TypeError):
            raise ValueError("not a sentencepiece tokenizer model: its bytes do not parse (the "
                             "model file is damaged: retrain or copy it again)") from None
        self._model = bytes(model)

    @classmethod
    def train(cls, lines: Iterable[str], vocab_size: int = DEFAULT_VOCAB,
              model_type: str = DEFAULT_MODEL_TYPE) -> Tokenizer:
        """A tokenizer of (at most) `vocab_size` pieces learnt from `lines` (both languages).

        A text too small for `vocab_size` gets the most pieces it allows, and a line saying so;
        a `vocab_size` below what the text's characters need is a ValueError.
        """
        lines = [str(line) for line in lines]
        _check_options(lines, vocab_size, model_type)
        tok = cls(_train_bytes(lines, vocab_size, model_type))
        if tok.vocab_size < vocab_size:
            say(f"the training text is too small for {vocab_size} {model_type} pieces: the "
                f"tokenizer has {tok.vocab_size} (ask for vocab_size <= {tok.vocab_size} to "
                "silence this)")
        return tok

    @property
    def vocab_size(self) -> int:
        """Number of ids, the 4 special ones included."""
        return self._sp.get_piece_size()

    def encode(self, text: str | Sequence[str]) -> list[int] | list[list[int]]:
        """A sentence -> its ids; a list of sentences -> a list of id lists (no BOS/EOS)."""
        if isinstance(text, str):
            return self._sp.encode(text)
        return self._sp.encode([str(t) for t in text])

    def decode(self, ids: Sequence[int] | Sequence[Sequence[int]]) -> str | list[str]:
        """Ids -> the sentence (PAD, BOS, EOS dropped); a list of id lists -> sentences."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if ids and isinstance(ids[0], list | tuple):
            return [self.decode(one) for one in ids]
        return self._sp.decode([int(i) for i in ids if int(i) not in (PAD, BOS, EOS)])

    def piece(self, i: int) -> str:
        """The text piece of id i (for inspection: '▁dog', '<0xC3>', '</s>')."""
        return self._sp.id_to_piece(int(i))

    def to_bytes(self) -> bytes:
        """The serialized sentencepiece model (what `from_bytes` reads)."""
        return self._model

    @classmethod
    def from_bytes(cls, model: bytes) -> Tokenizer:
        return cls(model)

    def __getstate__(self) -> bytes:  # data-loader workers get a copy: send the model bytes
        return self._model

    def __setstate__(self, model: bytes) -> None:
        self.__init__(model)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and other._model == self._model

    def __hash__(self) -> int:
        return hash(self._model)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size})"


def required_pieces(lines: Sequence[str]) -> int:
    """The fewest pieces a tokenizer of `lines` can have: the special ids, the byte fallbacks
    and one piece per distinct character (character coverage 1.0)."""
    chars = set()
    for line in lines:
        chars.update(line.replace(" ", _SPACE))
    return _SPECIAL + _BYTE_PIECES + len(chars)


def _check_options(lines: list[str], vocab_size: int, model_type: str) -> None:
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown tokenizer model_type {model_type!r}: use one of "
                         f"{', '.join(MODEL_TYPES)}")
    if not any(line.strip() for line in lines):
        raise ValueError("no text to train the tokenizer on: give it the training sentences")
    need = required_pieces(lines)
    if vocab_size < need:
        raise ValueError(f"vocab_size {vocab_size} is too small for this text: it needs at "
                         f"least {need} pieces ({_SPECIAL} special ids, {_BYTE_PIECES} byte "
                         f"fallbacks, {need - _SPECIAL - _BYTE_PIECES} distinct characters): "
                         f"use vocab_size >= {need}")


def _train_bytes(lines: list[str], vocab_size: int, model_type: str) -> bytes:
    """sentencepiece's training, in memory and silent -> the serialized model."""
    spm = _sentencepiece()

    out = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=out, vocab_size=vocab_size,
            model_type=model_type, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS,
            character_coverage=1.0, byte_fallback=True, normalization_rule_name="identity",
            remove_extra_whitespaces=False, hard_vocab_limit=False, input_sentence_size=0,
            shuffle_input_sentence=False, num_threads=_THREADS, minloglevel=2)
    except RuntimeError as err:  # sentencepiece's checks: one line, not its C++ trace
        raise ValueError(f"sentencepiece could not train the tokenizer: {_last_line(err)}"
                         ) from None
    return out.getvalue()


def _last_line(err: Exception) -> str:
    """The message part of a sentencepiece error ('INTERNAL: file.cc(12) [check] message')."""
    text = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return text.split("] ", 1)[-1]


def say(message: str) -> None:
    """A notice about the data, printed once (by the first process of a distributed run)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    print(f"warning: {message}", file=sys.stderr)
