"""Parallel text for translation: the --data specs, reading them, the dataset, the record.

Specs (`ParallelSpec`):
- `PREFIX.SRC-TGT`: the files PREFIX.SRC and PREFIX.TGT, one sentence per line, line i of one a
  translation of line i of the other; SRC-TGT is the direction (`multi30k/train.en-de`:
  train.en -> train.de; `train.de-en` the reverse).
- `FILE.tsv`: source TAB target per line; `FILE.SRC-TGT.tsv` also names the languages.
For a PREFIX (or FILE) named `train`, the sibling `val`, `valid` or `dev` of the same form and
pair is its validation set, when it exists.

Ids (dsconv.models.seq2seq): source = ids + [EOS]; target = ids + [EOS]; `collate` makes
tgt_in = [BOS] + ids (PAD-padded) and tgt_out = ids + [EOS] (padded with -100, the loss's
ignore_index). Bad input is a one-line ValueError naming the file, the line and the fix.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from ..models.seq2seq import BOS, EOS, PAD
from .preprocess import Preprocess
from .splits import held_out_name
from .tokenizer import DEFAULT_MODEL_TYPE, DEFAULT_VOCAB, Tokenizer, say

IGNORE_INDEX = -100          # tgt_out's padding: cross_entropy skips it
DEFAULT_MAX_LEN = 128        # tokens per side, EOS included
VAL_NAMES = ("val", "valid", "dev")   # the validation sibling of a `train` prefix, in this order
SPLIT_NAMES = ("train", "test", *VAL_NAMES)
_CODE = r"[A-Za-z][A-Za-z0-9_]*"  # SRC, TGT in PREFIX.SRC-TGT
_PAIR = re.compile(rf"^(?P<prefix>.+)\.(?P<src>{_CODE})-(?P<tgt>{_CODE})$")
_LANG = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]+)?$")   # en, deu, pt_BR: a language, not a suffix
UNNAMED = ("src", "tgt")    # the languages of a .tsv whose name does not say them
SPECS = ("PREFIX.SRC-TGT (PREFIX.SRC and PREFIX.TGT, one sentence per line, e.g. "
         "multi30k/train.en-de), FILE.tsv (source TAB target per line)")


@dataclass(frozen=True)
class ParallelSpec:
    """A parsed --data spec of parallel text (see the module docstring)."""

    prefix: Path                 # PREFIX, or the .tsv file's path without '[.SRC-TGT].tsv'
    src_lang: str
    tgt_lang: str
    tsv: str = ""                # the .tsv suffix as written ('' for a pair of files)
    named: bool = True           # False: a .tsv whose name does not say its languages

    @classmethod
    def parse(cls, spec: str | Path | None) -> ParallelSpec | None:
        """The spec's parts, or None when it has neither form."""
        if spec is None:
            return None
        path = Path(str(spec))
        if path.suffix.lower() == ".tsv":
            stem = path.with_suffix("")
            m = _PAIR.match(stem.name)
            if m:
                return cls(stem.with_name(m["prefix"]), m["src"], m["tgt"], path.suffix)
            return cls(stem, *UNNAMED, path.suffix, named=False)
        m = _PAIR.match(path.name)
        return cls(path.with_name(m["prefix"]), m["src"], m["tgt"]) if m else None

    @property
    def files(self) -> tuple[Path, ...]:
        """(PREFIX.SRC, PREFIX.TGT), or (the .tsv file,)."""
        if self.tsv:
            return (Path(str(self)),)
        return Path(f"{self.prefix}.{self.src_lang}"), Path(f"{self.prefix}.{self.tgt_lang}")

    def looks_like_text(self) -> bool:
        """Whether a spec of this shape means parallel text: a .tsv, a pair of which a file
        exists, or one whose SRC and TGT are language codes (so a missing file gets this
        reader's error, naming it, rather than the image folder reader's)."""
        return bool(self.tsv) or any(f.exists() for f in self.files) or bool(
            _LANG.match(self.src_lang) and _LANG.match(self.tgt_lang))

    def sibling(self, name: str) -> ParallelSpec:
        """The same form and pair with PREFIX's name replaced (train -> val)."""
        return ParallelSpec(self.prefix.with_name(name), self.src_lang, self.tgt_lang, self.tsv,
                            self.named)

    def validation(self) -> ParallelSpec | None:
        """The val/valid/dev sibling of a `train` spec whose files exist, else None."""
        if self.prefix.name != "train":
            return None
        for name in VAL_NAMES:
            other = self.sibling(name)
            if all(f.is_file() for f in other.files):
                return other
        return None

    def run_name(self) -> str:
        """'multi30k-en-de': the folder's name for a split name (train.en-de), else PREFIX's."""
        base = self.prefix.name
        if base.lower() in SPLIT_NAMES:
            base = self.prefix.resolve().parent.name or base
        return f"{base}-{self.src_lang}-{self.tgt_lang}" if self.named else base

    def __str__(self) -> str:
        if not self.tsv:
            return f"{self.prefix}.{self.src_lang}-{self.tgt_lang}"
        return f"{self.prefix}.{self.src_lang}-{self.tgt_lang}{self.tsv}" if self.named else \
            f"{self.prefix}{self.tsv}"


def parallel_spec(spec: str | Path | None) -> ParallelSpec:
    """`ParallelSpec.parse`, with a ValueError for a spec of neither form."""
    parsed = ParallelSpec.parse(spec)
    if parsed is None:
        raise ValueError(f"{spec}: not parallel text; --data takes {SPECS}")
    return parsed


# -- reading -------------------------------------------------------------------------------


@dataclass
class RawPairs:
    """Sentence pairs as read, with where each came from (for messages)."""

    sources: list[str]
    targets: list[str]
    lines: list[int]             # each pair's line number (1-based) in its file(s)
    src_file: str
    tgt_file: str                # the same file for a .tsv

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, idx: Sequence[int]) -> RawPairs:
        return RawPairs([self.sources[i] for i in idx], [self.targets[i] for i in idx],
                        [self.lines[i] for i in idx], self.src_file, self.tgt_file)

    def where(self, i: int, side: str) -> str:
        """'train.de line 12' for pair i's 'source' or 'target'."""
        return f"{self.src_file if side == 'source' else self.tgt_file} line {self.lines[i]}"


def read_lines(path: str | Path, hint: str = "") -> list[str]:
    """A UTF-8 text file's lines, without their line ends (\\n or \\r\\n) or a leading BOM."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file not found{hint}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(f"{path} line {line}: not UTF-8 text (byte 0x{data[err.start]:02x}): "
                         "save the file as UTF-8") from None
    lines = text.removeprefix("\ufeff").split("\n")  # not splitlines: \x0c etc. are not ends
    if lines[-1] == "":
        lines.pop()  # the last line's newline
    return [line.removesuffix("\r") for line in lines]


def read_pairs(spec: ParallelSpec | str | Path) -> RawPairs:
    """Every sentence pair of `spec`, checked: same line counts, UTF-8, no empty line."""
    spec = spec if isinstance(spec, ParallelSpec) else parallel_spec(spec)
    if spec.tsv:
        raw = _read_tsv(spec.files[0])
    else:
        src, tgt = spec.files
        hint = f" (--data {spec} reads {src} and {tgt}, one sentence per line)"
        sources, targets = read_lines(src, hint), read_lines(tgt, hint)
        if len(sources) != len(targets):
            raise ValueError(f"{src} has {len(sources)} lines but {tgt} has {len(targets)}: "
                             "line i of each must be a translation of the other; make the "
                             "two files line up")
        raw = RawPairs(sources, targets, list(range(1, len(sources) + 1)), str(src), str(tgt))
    if not raw.sources:
        raise ValueError(f"{spec}: no sentence pairs in {' / '.join(map(str, spec.files))}")
    for side, texts in (("source", raw.sources), ("target", raw.targets)):
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(f"{raw.where(i, side)}: empty {side} sentence: every line "
                                 f"must hold one; delete the pair from {_both(spec)}")
    return raw


def _read_tsv(path: Path) -> RawPairs:
    rows = read_lines(path, " (--data FILE.tsv: source TAB target per line)")
    cols = [row.split("\t") for row in rows]
    for n, c in enumerate(cols, 1):
        if len(c) != 2:
            raise ValueError(f"{path} line {n}: {len(c)} tab-separated column"
                             f"{'s' if len(c) != 1 else ''}, not 2 (source TAB target)")
    return RawPairs([c[0] for c in cols], [c[1] for c in cols], list(range(1, len(cols) + 1)),
                    str(path), str(path))


def _both(spec: ParallelSpec) -> str:
    return " and ".join(map(str, spec.files)) if len(spec.files) > 1 else str(spec.files[0])


def held_out(n: int, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): a seeded `frac` of n pairs held out (at least 1, never all)."""
    if not 0.0 < frac < 1.0:
        raise ValueError(f"val_split must be in [0, 1); got {frac}")
    if n < 2:
        raise ValueError(f"val_split {frac} needs at least 2 sentence pairs to hold some out; "
                         f"got {n}: use val_split 0 or more data")
    k = min(max(round(frac * n), 1), n - 1)
    val = np.sort(np.random.default_rng(seed).permutation(n)[:k])
    return np.setdiff1d(np.arange(n), val), val


# -- the dataset ---------------------------------------------------------------------------


def collate_pairs(items: Sequence[tuple[torch.Tensor, torch.Tensor, int]]
                  ) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor, list[int]]:
    """Items (src (S_i,), tgt (T_i,) ending in EOS, index) -> ((src (B, S), tgt_in (B, T)),
    tgt_out (B, T), []): src and tgt_in padded with PAD, tgt_out with -100; [] as no item is
    ever unreadable (the image collate's third part)."""
    src = pad_sequence([it[0] for it in items], batch_first=True, padding_value=PAD)
    bos = torch.tensor([BOS], dtype=torch.long)
    tgt_in = pad_sequence([torch.cat([bos, it[1][:-1]]) for it in items], batch_first=True,
                          padding_value=PAD)
    tgt_out = pad_sequence([it[1] for it in items], batch_first=True,
                           padding_value=IGNORE_INDEX)
    return (src, tgt_in), tgt_out, []


class TranslationPairs(Dataset):
    """Tokenized sentence pairs. Item i: (src (S,) long, tgt (T,) long, i), both ending in EOS.

    Attributes: sources, references (the raw text lines, for BLEU), classes ([]: no classes),
    epoch (set by the trainer), split_name (what these pairs are, for reports).
    """

    collate = staticmethod(collate_pairs)

    def __init__(self, src: list[torch.Tensor], tgt: list[torch.Tensor], sources: list[str],
                 references: list[str], split_name: str = "") -> None:
        if not len(src) == len(tgt) == len(sources) == len(references):
            raise ValueError(f"need as many sources as targets; got {len(src)} ids, {len(tgt)} "
                             f"ids, {len(sources)} and {len(references)} lines")
        self.src, self.tgt = src, tgt
        self.sources, self.references = list(sources), list(references)
        self.split_name = split_name
        self.classes: list[str] = []
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.src[i], self.tgt[i], i

    @property
    def lengths(self) -> list[int]:
        """Each pair's padded length: its longer side, in tokens (EOS included)."""
        return [max(len(s), len(t)) for s, t in zip(self.src, self.tgt)]

    def batch_plan(self, max_tokens: int) -> list[list[int]]:
        """Every index in exactly one batch, each batch's rows x longest <= max_tokens.

        Pairs sorted by length (ties by index) are packed greedily, so a batch holds pairs of
        similar length and little padding; a pair longer than max_tokens is a batch of its
        own. The same data gives the same plan (the trainer shuffles the batches' order).
        """
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1; got {max_tokens}")
        lengths = self.lengths
        batches: list[list[int]] = []
        batch: list[int] = []
        for i in sorted(range(len(lengths)), key=lambda j: (lengths[j], j)):
            if batch and (len(batch) + 1) * lengths[i] > max_tokens:  # sorted: i is longest
                batches.append(batch)
                batch = []
            batch.append(i)
        return batches + [batch] if batch else batches


# -- the model file's record ---------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class TextPreprocess(Preprocess):
    """How sentences become token ids: the tokenizer (a sentencepiece model, base64 so the
    model file's JSON holds it), the languages and the most tokens a side may have.

    A text model saved without training data has no tokenizer (None): it cannot read text.
    """

    kind: ClassVar[str] = "text"
    src_lang: str
    tgt_lang: str
    tokenizer: str | None          # base64 of Tokenizer.to_bytes(); None: saved untrained
    vocab_size: int = DEFAULT_VOCAB
    max_len: int = DEFAULT_MAX_LEN                 # tokens per side, EOS included

    @property
    def input_size(self) -> tuple[int]:
        return (self.max_len,)

    @property
    def in_chans(self) -> int:
        return 1

    @classmethod
    def of(cls, tok: Tokenizer, src_lang: str, tgt_lang: str,
           max_len: int = DEFAULT_MAX_LEN) -> TextPreprocess:
        """The record of a trained tokenizer."""
        return cls(src_lang, tgt_lang, base64.b64encode(tok.to_bytes()).decode("ascii"),
                   tok.vocab_size, max_len)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextPreprocess:
        missing = [k for k in ("src_lang", "tgt_lang", "vocab_size", "max_len") if k not in d]
        if missing:
            raise ValueError(f"text preprocessing lacks keys {missing}; has {sorted(d)}")
        rec = cls(str(d["src_lang"]), str(d["tgt_lang"]), d.get("tokenizer"),
                  int(d["vocab_size"]), int(d["max_len"]))
        if rec.max_len < 2 or rec.vocab_size < 5:
            raise ValueError(f"inconsistent text preprocessing: max_len {rec.max_len}, "
                             f"vocab_size {rec.vocab_size}")
        return rec

    @cached_property
    def tokenizer_model(self) -> Tokenizer:
        """The Tokenizer (read once)."""
        if self.tokenizer is None:
            raise ValueError("this text model has no tokenizer (it was saved without training "
                             "data): train it with `dsconv train --data PREFIX.SRC-TGT`")
        return Tokenizer.from_bytes(base64.b64decode(self.tokenizer))

    def model_args(self, classes: list[str]) -> dict[str, Any]:
        """A translator is built for this tokenizer's vocabulary and the longest side."""
        return {"vocab_size": self.vocab_size, "max_len": self.max_len}

    def encode_sources(self, lines: Sequence[str]) -> list[torch.Tensor]:
        """Sentences -> their source ids (S_i,) long, EOS-terminated (not length-checked)."""
        return [_with_eos(ids) for ids in self.tokenizer_model.encode(list(lines))]

    def too_long(self, n: int, where: str, side: str = "source") -> str | None:
        """The message for a `side` of n tokens at `where`, when over max_len; else None."""
        if n <= self.max_len:
            return None
        return (f"{where}: the {side} has {n} tokens (with EOS), over the model's max_len "
                f"{self.max_len}: split it into shorter sentences")

    def __repr__(self) -> str:  # not the tokenizer's 100s of kB of base64
        tok = None if self.tokenizer is None else f"<{len(self.tokenizer)} chars>"
        return (f"TextPreprocess(src_lang={self.src_lang!r}, tgt_lang={self.tgt_lang!r}, "
                f"tokenizer={tok}, vocab_size={self.vocab_size}, max_len={self.max_len})")


def _with_eos(ids: list[int]) -> torch.Tensor:
    return torch.tensor([*ids, EOS], dtype=torch.long)


def train_tokenizer(raw: RawPairs, vocab_size: int = DEFAULT_VOCAB,
                    model_type: str = DEFAULT_MODEL_TYPE) -> Tokenizer:
    """One tokenizer over both sides of the training pairs."""
    return Tokenizer.train(raw.sources + raw.targets, vocab_size, model_type)


def encode_pairs(raw: RawPairs, record: TextPreprocess, split_name: str,
                 drop_long: str | None = None) -> TranslationPairs:
    """The pairs as token ids. A side over record.max_len tokens: with drop_long (what the
    pairs are, e.g. 'training'), those pairs are left out with one printed warning; without,
    a ValueError naming the first such line."""
    tok = record.tokenizer_model
    src = [_with_eos(ids) for ids in tok.encode(raw.sources)]
    tgt = [_with_eos(ids) for ids in tok.encode(raw.targets)]
    long = [i for i in range(len(src)) if max(len(src[i]), len(tgt[i])) > record.max_len]
    if long and drop_long is None:
        i = long[0]
        side = "source" if len(src[i]) > record.max_len else "target"
        raise ValueError(record.too_long(len(src[i] if side == "source" else tgt[i]),
                                         raw.where(i, side), side))
    if long:
        if len(long) == len(src):
            raise ValueError(f"every {drop_long} pair has a side over max_len {record.max_len} "
                             "tokens (with EOS): raise max_len")
        longest = max(max(len(src[i]), len(tgt[i])) for i in long)
        say(f"{len(long)} of {len(src)} {drop_long} pairs have a side over max_len "
            f"{record.max_len} tokens (with EOS; the longest {longest}, e.g. "
            f"{raw.where(long[0], 'source')}): they are left out (raise max_len to keep them)")
        keep = sorted(set(range(len(src))) - set(long))
        raw, src, tgt = raw.subset(keep), [src[i] for i in keep], [tgt[i] for i in keep]
    return TranslationPairs(src, tgt, raw.sources, raw.targets, split_name)


def check_languages(spec: ParallelSpec, record: TextPreprocess) -> None:
    """A spec whose pair differs from the model's direction is an error (unnamed: no check)."""
    model = (record.src_lang, record.tgt_lang)
    if not spec.named or model == UNNAMED or (spec.src_lang, spec.tgt_lang) == model:
        return
    fix = ParallelSpec(spec.prefix, *model, spec.tsv, spec.named)
    raise ValueError(f"{spec} is {spec.src_lang} to {spec.tgt_lang}, but the model translates "
                     f"{model[0]} to {model[1]}: use {fix}")


def training_name(spec: ParallelSpec, held: tuple[float, int] | None, part: str) -> str:
    """What a training run's pairs are called: the spec, or its held-out part or the rest."""
    if held is None:
        return f"{spec} ({'training' if part == 'train' else 'validation'} pairs)"
    return held_out_name(spec, held[0], "pairs", part)


__all__ = ["DEFAULT_MAX_LEN", "IGNORE_INDEX", "SPECS", "UNNAMED", "ParallelSpec", "RawPairs",
           "TextPreprocess", "TranslationPairs", "check_languages", "collate_pairs",
           "encode_pairs", "held_out", "parallel_spec", "read_lines", "read_pairs",
           "train_tokenizer", "training_name"]
