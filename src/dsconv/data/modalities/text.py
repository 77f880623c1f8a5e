"""Text: parallel sentences for the translation models (models over token ids).

Specs: `PREFIX.SRC-TGT` (PREFIX.SRC and PREFIX.TGT, one sentence per line; for a PREFIX named
train its val/valid/dev sibling validates, else a held-out --val-split), `FILE.tsv` (source TAB
target). Reading, the dataset and the record (`TextPreprocess`, which carries the tokenizer) are
in `data/text.py`; the tokenizer is trained on the training pairs, both sides, at every run.
The batch size of text is in tokens: `TranslationPairs.batch_plan(batch_size)`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..splits import recorded_split, whole_name
from ..text import (
    SPECS,
    UNNAMED,
    ParallelSpec,
    RawPairs,
    TextPreprocess,
    check_languages,
    encode_pairs,
    held_out,
    parallel_spec,
    read_lines,
    read_pairs,
    train_tokenizer,
    training_name,
)
from ..tokenizer import DEFAULT_VOCAB
from .base import DataSettings, Inputs, Modality, TrainingData, same_data


class TextModality(Modality):
    name = "text"
    unit = "sentences"
    dims = 1
    default_model = "slicenet_small"
    recipe = "translate"
    epochs = 12
    batch_size = 4000                # tokens per batch (rows x longest pair), not sentences
    record = TextPreprocess
    specs = SPECS
    classifies = False               # translation models: no class probabilities to average

    def owns(self, spec: str | Path | None) -> bool:
        parsed = ParallelSpec.parse(spec)
        return parsed is not None and not Path(str(spec)).is_dir() and parsed.looks_like_text()

    def accepts(self, info: Any) -> bool:
        return info.tokens

    def run_name(self, spec: str | None) -> str:
        return parallel_spec(spec).run_name()

    def train_size(self, settings: DataSettings, model: str) -> tuple[int]:
        return (settings.max_len,)

    def training_data(self, settings: DataSettings, model: str) -> TrainingData:
        spec = parallel_spec(settings.spec)
        train, val, names = _training_pairs(spec, settings.val_split, settings.held_out_seed)
        record = TextPreprocess.of(train_tokenizer(train, settings.vocab_size), spec.src_lang,
                                   spec.tgt_lang, settings.max_len)
        train_set = encode_pairs(train, record, names[0], "training")
        val_set = None if val is None else encode_pairs(val, record, names[1], "validation")
        return TrainingData(train_set, val_set, record, "validation")

    def labelled(self, spec: str | Path | None, preprocess: TextPreprocess,
                 classes: list[str], trained: dict, split: str = "eval") -> Dataset:
        source = trained.get("data")
        data = source if spec is None else spec
        if data is None:
            raise ValueError(f"--data is required: the sentence pairs to measure on ({SPECS})")
        parsed = parallel_spec(data)
        check_languages(parsed, preprocess)
        raw, name = _labelled_pairs(parsed, split, trained if same_data(data, source) else None)
        return encode_pairs(raw, preprocess, name)

    def predict_inputs(self, preprocess: TextPreprocess, inputs: Inputs
                       ) -> Iterator[tuple[dict, torch.Tensor | None]]:
        preprocess.tokenizer_model  # noqa: B018 - a model without one: its error, at once
        sentences, paths = _sentences_or_paths(inputs)
        if sentences is not None:
            yield from _entries(preprocess, sentences, [f"input[{i}]" for i in
                                                        range(len(sentences))])
            return
        for path in paths:
            if not Path(path).is_file():
                yield {"input": path, "error": _not_a_file(path)}, None
                continue
            try:
                lines = read_lines(path)
            except ValueError as err:
                yield {"input": path, "error": str(err)}, None
                continue
            yield from _entries(preprocess, lines, [f"{path}:{n}" for n in
                                                    range(1, len(lines) + 1)])

    def default_preprocess(self, info: Any, config: dict) -> TextPreprocess:
        # The tokenizer comes from training data; without it predict says so.
        return TextPreprocess(*UNNAMED, None, int(config.get("vocab_size", DEFAULT_VOCAB)),
                              int(config.get("max_len", info.input_size[0])))


def _training_pairs(spec: ParallelSpec, val_split: float, seed: int
                    ) -> tuple[RawPairs, RawPairs | None, tuple[str, str]]:
    """(training pairs, validation pairs or None, their names): the val sibling validates,
    else a held-out `val_split` (0: no validation)."""
    if not 0.0 <= val_split < 1.0:
        raise ValueError(f"val_split must be in [0, 1); got {val_split}")
    raw = read_pairs(spec)
    sibling = spec.validation()
    if sibling is not None:
        return raw, read_pairs(sibling), (training_name(spec, None, "train"),
                                          training_name(sibling, None, "eval"))
    if val_split == 0:
        return raw, None, (training_name(spec, None, "train"), "")
    held = (val_split, seed)
    tr, va = held_out(len(raw), *held)
    return raw.subset(tr), raw.subset(va), (training_name(spec, held, "train"),
                                            training_name(spec, held, "eval"))


def _labelled_pairs(spec: ParallelSpec, split: str, trained: dict | None
                    ) -> tuple[RawPairs, str]:
    """(pairs, their name): a model's own data gives its validation part for 'eval' (the
    val sibling, or the pairs its run held out) and the rest for 'train'; other data all."""
    if trained is None:
        return read_pairs(spec), whole_name(spec, "pairs", None)
    sibling = spec.validation()
    if sibling is not None:
        return (read_pairs(spec), training_name(spec, None, "train")) if split == "train" else \
            (read_pairs(sibling), training_name(sibling, None, "eval"))
    held = recorded_split(trained)
    raw = read_pairs(spec)
    if held is None:
        return raw, whole_name(spec, "pairs", trained if split != "train" else None)
    tr, va = held_out(len(raw), *held)
    return raw.subset(tr if split == "train" else va), training_name(spec, held, split)


def _sentences_or_paths(inputs: Inputs) -> tuple[list[str] | None, list[str]]:
    """(sentences, []) for a list/tuple of strings that are not all files, or an open text
    stream (standard input); else (None, paths)."""
    if isinstance(inputs, io.TextIOBase):
        return [line.rstrip("\r\n") for line in inputs], []
    if isinstance(inputs, torch.Tensor | np.ndarray):
        raise ValueError("a translation model reads sentences: pass a text file (one sentence "
                         "per line), a list of files, or a list of sentences")
    if isinstance(inputs, str | Path):
        return None, [str(inputs)]
    items = list(inputs)
    if any(isinstance(x, Path) for x in items) or not items:
        return None, [str(x) for x in items]
    files = [_is_file(x) for x in items]
    if all(files):
        return None, [str(x) for x in items]
    if any(files):
        named = next(x for x, f in zip(items, files) if f)
        raise ValueError(f"the inputs mix files ({named}) and sentences: pass either text files "
                         "or sentences")
    return [str(x) for x in items], []


def _is_file(text: str) -> bool:
    """Whether `text` names a file (a long sentence is no file name: the OS says so by error)."""
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def _entries(pre: TextPreprocess, lines: Sequence[str], names: list[str]):
    """(entry, source ids (S,) or None) per sentence: empty or too long ones get an error."""
    ids = pre.encode_sources(lines)
    for line, name, x in zip(lines, names, ids):
        entry = {"input": name, "source": line}
        problem = "empty line: nothing to translate" if not line.strip() else \
            pre.too_long(len(x), name)
        if problem:
            yield {**entry, "error": problem}, None
        else:
            yield entry, x


def _not_a_file(path: str) -> str:
    if Path(path).is_dir():
        return "a folder: pass the text files in it (one sentence per line)"
    return "file not found (to translate sentences, pass them as a list of strings)"
