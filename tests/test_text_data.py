"""Text, the third modality: the sentencepiece tokenizer, parallel text specs and their errors,
the token-bounded batch plan, the record, and which modality takes which spec and model."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dsconv.data import (
    DataSettings,
    ParallelSpec,
    TextModality,
    TextPreprocess,
    Tokenizer,
    TranslationPairs,
    modality_named,
    modality_of,
    modality_of_model,
    read_pairs,
    read_preprocess,
)
from dsconv.data.modalities import MODALITIES
from dsconv.data.text import encode_pairs
from dsconv.models import model_info
from dsconv.models.seq2seq import BOS, EOS, PAD, UNK

ROOT = Path(__file__).parents[1]
# Multi30k lives in shared/ beside the checkouts (or inside the repo on a device machine).
MULTI30K = next((p for p in (ROOT.parent / "shared" / "data" / "multi30k",
                             ROOT / "shared" / "data" / "multi30k")
                 if (p / "train.en").is_file()), None)
needs_multi30k = pytest.mark.skipif(MULTI30K is None, reason="shared/data/multi30k is not here")

EN = ["A dog runs in the park.", "Two men are talking.", "A girl is reading a book.",
      "The cat sleeps on the sofa.", "A woman rides a bike.", "Children play football."]
DE = ["Ein Hund läuft im Park.", "Zwei Männer unterhalten sich.", "Ein Mädchen liest ein Buch.",
      "Die Katze schläft auf dem Sofa.", "Eine Frau fährt Fahrrad.", "Kinder spielen Fußball."]
TEXT = EN * 3 + DE * 3


def _lines(path: Path, n: int | None = None) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1][:n]


def _write(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _pair(folder: Path, prefix: str = "train", en=EN, de=DE) -> str:
    _write(folder, f"{prefix}.en", en)
    _write(folder, f"{prefix}.de", de)
    return str(folder / f"{prefix}.en-de")


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.train(TEXT, vocab_size=600)


# -- the tokenizer ---------------------------------------------------------------------------


@needs_multi30k
def test_tokenizer_round_trips_every_multi30k_validation_line():
    train = _lines(MULTI30K / "train.en", 3000) + _lines(MULTI30K / "train.de", 3000)
    tok = Tokenizer.train(train, vocab_size=500)
    assert tok.vocab_size == 500
    for side in ("en", "de"):
        val = _lines(MULTI30K / f"val.{side}")
        assert len(val) == 1014
        ids = tok.encode(val)
        bad = [line for line, i in zip(val, ids) if tok.decode(i) != line]
        assert not bad, bad[:3]  # '120\xa0cm' too: no training line of the slice has \xa0
        assert sum(map(len, ids)) < 0.6 * sum(map(len, val))  # pieces, not characters


def test_tokenizer_round_trips_what_default_normalisation_would_change(tok):
    # Double spaces (130 Multi30k training lines), a no-break space, an unseen character.
    for line in ["Ein  Hund läuft.", "ca. 120\xa0cm", "Ein Hund 🐕 läuft", " lead and trail "]:
        assert tok.decode(tok.encode(line)) == line


def test_tokenizer_ids_are_the_seq2seq_ones(tok):
    assert [tok.piece(i) for i in (PAD, UNK, BOS, EOS)] == ["<pad>", "<unk>", "<s>", "</s>"]
    ids = tok.encode("A dog runs.")
    assert min(ids) > EOS and tok.decode([BOS, *ids, EOS, PAD, PAD]) == "A dog runs."
    assert tok.encode(["A dog.", "Ein Hund."]) == [tok.encode("A dog."), tok.encode("Ein Hund.")]
    assert tok.decode([ids, ids]) == ["A dog runs."] * 2
    assert tok.decode(torch.tensor(ids)) == "A dog runs."


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_tokenizer_training_is_deterministic_and_quiet(model_type, capfd):
    a = Tokenizer.train(TEXT, vocab_size=300, model_type=model_type)
    b = Tokenizer.train(TEXT, vocab_size=300, model_type=model_type)
    assert a.to_bytes() == b.to_bytes()  # a resumed run retrains the same tokenizer
    assert a.to_bytes() != Tokenizer.train(TEXT + ["A horse jumps."], 300, model_type
                                           ).to_bytes()  # the bytes do follow the text
    back = Tokenizer.from_bytes(a.to_bytes())
    assert back == a and back.encode(TEXT) == a.encode(TEXT)
    out, err = capfd.readouterr()
    assert out == err == ""  # no sentencepiece log


def test_tokenizer_clamps_a_vocab_too_large_and_refuses_one_too_small(capfd):
    tok = Tokenizer.train(EN, vocab_size=8000)
    assert 260 < tok.vocab_size < 8000
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and f"too small for 8000 bpe pieces: the tokenizer has " \
        f"{tok.vocab_size}" in err
    with pytest.raises(ValueError, match=r"vocab_size 100 is too small for this text: it needs "
                                         r"at least \d+ pieces .* use vocab_size >= \d+"):
        Tokenizer.train(EN, vocab_size=100)
    with pytest.raises(ValueError, match="unknown tokenizer model_type 'word': use one of bpe"):
        Tokenizer.train(EN, model_type="word")
    with pytest.raises(ValueError, match="not a sentencepiece tokenizer model"):
        Tokenizer.from_bytes(b"not a model")


# -- specs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, files, langs", [
    ("data/multi30k/train.en-de", ["data/multi30k/train.en", "data/multi30k/train.de"],
     ("en", "de")),
    ("train.de-en", ["train.de", "train.en"], ("de", "en")),
    ("news.2014.en-fr", ["news.2014.en", "news.2014.fr"], ("en", "fr")),
    ("d/pairs.tsv", ["d/pairs.tsv"], ("src", "tgt")),
    ("d/train.en-de.tsv", ["d/train.en-de.tsv"], ("en", "de"))])
def test_spec_forms_name_their_files_and_direction(spec, files, langs):
    p = ParallelSpec.parse(spec)
    assert [str(f) for f in p.files] == files and (p.src_lang, p.tgt_lang) == langs
    assert str(p) == spec and modality_of(spec).name == "text"


@pytest.mark.parametrize("spec", [None, "digits", "synthetic:shapes?train=20", "some/folder/",
                                  "aeon:BasicMotions", "x/GunPoint_TRAIN.ts", "d.npz", "a.csv"])
def test_image_and_series_specs_are_not_text(spec):
    assert modality_of(spec).name != "text"


def test_a_folder_named_like_a_pair_is_images(tmp_path):
    (tmp_path / "shots.en-de").mkdir()
    assert modality_of(str(tmp_path / "shots.en-de")).name == "image"
    assert modality_of(str(tmp_path / "x.v1-final")).name == "image"  # no file, no languages
    _write(tmp_path, "x.v1", ["a"])
    assert modality_of(str(tmp_path / "x.v1-final")).name == "text"  # one of its files exists


def test_run_names(tmp_path):
    m = modality_named("text")
    assert m.run_name("../shared/data/multi30k/train.en-de") == "multi30k-en-de"
    assert m.run_name("../shared/data/multi30k/val.de-en") == "multi30k-de-en"
    assert m.run_name("corpora/news2014.en-fr") == "news2014-en-fr"
    assert m.run_name("d/pairs.tsv") == "pairs"


def test_text_is_asked_first_and_takes_only_token_models():
    assert MODALITIES[0].name == "text"
    tokens = dataclasses.replace(model_info("xception_mini"), tokens=True)
    assert modality_of_model(tokens).name == "text"
    for m in MODALITIES:
        assert m.accepts(tokens) == (m.name == "text")
        assert m.accepts(model_info("xception_mini")) == (m.name == "image")
        assert m.accepts(model_info("xceptiontime")) == (m.name == "series")


# -- bad input ---------------------------------------------------------------------------------


def test_a_missing_file_is_named(tmp_path):
    _write(tmp_path, "train.en", EN)
    with pytest.raises(ValueError, match=rf"^{tmp_path}/train.de: file not found \(--data "
                                         rf"{tmp_path}/train.en-de reads .*train.en and "):
        read_pairs(str(tmp_path / "train.en-de"))
    with pytest.raises(ValueError, match=r"nothere.tsv: file not found \(--data FILE.tsv"):
        read_pairs(str(tmp_path / "nothere.tsv"))


def test_mismatched_line_counts_name_both_counts_and_files(tmp_path):
    spec = _pair(tmp_path, de=DE[:-1])
    with pytest.raises(ValueError, match=rf"^{tmp_path}/train.en has 6 lines but "
                                         rf"{tmp_path}/train.de has 5: line i of each"):
        read_pairs(spec)


def test_non_utf8_names_file_and_line(tmp_path):
    spec = _pair(tmp_path)
    (tmp_path / "train.de").write_bytes(b"Ein Hund.\nZwei\n" + "Männer.\n".encode(
        "latin-1") + b"x\n" * 3)
    with pytest.raises(ValueError, match=rf"^{tmp_path}/train.de line 3: not UTF-8 text "
                                         r"\(byte 0xe4\): save the file as UTF-8$"):
        read_pairs(spec)


@pytest.mark.parametrize("side, lang, line", [("source", "en", 2), ("target", "de", 5)])
def test_an_empty_line_names_file_and_line(tmp_path, side, lang, line):
    en, de = list(EN), list(DE)
    (en if lang == "en" else de)[line - 1] = "  "
    spec = _pair(tmp_path, en=en, de=de)
    with pytest.raises(ValueError, match=rf"^{tmp_path}/train.{lang} line {line}: empty "
                                         rf"{side} sentence: every line must hold one; delete "
                                         "the pair from"):
        read_pairs(spec)


def test_tsv_reads_two_columns_and_names_a_bad_row(tmp_path):
    _write(tmp_path, "p.tsv", [f"{e}\t{d}" for e, d in zip(EN, DE)])
    raw = read_pairs(str(tmp_path / "p.tsv"))
    assert raw.sources == EN and raw.targets == DE
    _write(tmp_path, "q.tsv", ["a\tb", "only one column", "c\td"])
    with pytest.raises(ValueError, match=r"q.tsv line 2: 1 tab-separated column, not 2"):
        read_pairs(str(tmp_path / "q.tsv"))
    _write(tmp_path, "r.tsv", ["a\tb", "c\t "])
    with pytest.raises(ValueError, match=r"r.tsv line 2: empty target sentence"):
        read_pairs(str(tmp_path / "r.tsv"))


def test_crlf_and_a_bom_are_read_as_plain_lines(tmp_path):
    (tmp_path / "c.en").write_bytes(b"\xef\xbb\xbfA dog.\r\nA cat.\r\n")
    (tmp_path / "c.de").write_bytes(b"Ein Hund.\nEine Katze.")  # no final newline
    raw = read_pairs(str(tmp_path / "c.en-de"))
    assert raw.sources == ["A dog.", "A cat."] and raw.targets == ["Ein Hund.", "Eine Katze."]


def _settings(spec: str, **kw) -> DataSettings:
    return DataSettings(spec, val_split=kw.pop("val_split", 0.0), vocab_size=600, **kw)


def test_long_training_pairs_are_dropped_with_one_warning(tmp_path, capfd):
    long_en = " ".join(["dog"] * 40) + "."
    spec = _pair(tmp_path, en=EN + [long_en, long_en], de=DE + ["Hund.", "Hund."])
    data = TextModality().training_data(_settings(spec, max_len=12), "any")
    err = capfd.readouterr().err
    assert len(data.train) == len(EN) and data.train.sources == EN
    assert err.count("warning:") == 1 and "2 of 8 training pairs have a side over max_len 12 " \
        "tokens" in err and f"e.g. {tmp_path}/train.en line 7" in err
    # Evaluating on them is an error naming the line, its token count and the limit.
    n = len(data.preprocess.encode_sources([long_en])[0])
    with pytest.raises(ValueError, match=rf"^{tmp_path}/train.en line 7: the source has {n} "
                                         r"tokens \(with EOS\), over the model's max_len 12"):
        TextModality().labelled(spec, data.preprocess, [], {})
    # Predicting them is an error in that line's entry; the other lines are translated.
    entries = list(TextModality().predict_inputs(data.preprocess, str(tmp_path / "train.en")))
    assert [e["input"] for e, _ in entries] == [f"{tmp_path}/train.en:{i}" for i in range(1, 9)]
    assert entries[6][0]["error"] == (f"{tmp_path}/train.en:7: the source has {n} tokens "
                                      "(with EOS), over the model's max_len 12: split it into "
                                      "shorter sentences") and entries[6][1] is None
    assert all(x is not None for _, x in entries[:6])


# -- the dataset -------------------------------------------------------------------------------


def _pairs(lengths: list[tuple[int, int]]) -> TranslationPairs:
    src = [torch.full((s,), 7, dtype=torch.long) for s, _ in lengths]
    tgt = [torch.full((t,), 8, dtype=torch.long) for _, t in lengths]
    return TranslationPairs(src, tgt, ["s"] * len(src), ["t"] * len(src))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60)), min_size=1, max_size=80),
       st.integers(1, 400))
def test_batch_plan_partitions_within_the_token_bound(lengths, max_tokens):
    ds = _pairs(lengths)
    plan = ds.batch_plan(max_tokens)
    assert sorted(i for b in plan for i in b) == list(range(len(ds)))  # each exactly once
    for b in plan:
        longest = max(ds.lengths[i] for i in b)
        assert len(b) * longest <= max_tokens or len(b) == 1  # alone: a pair over the bound
    assert plan == ds.batch_plan(max_tokens)
    flat = [i for b in plan for i in b]
    assert flat == sorted(flat, key=lambda i: (ds.lengths[i], i))  # by length, ties by index


def test_batch_plan_packs_greedily():
    ds = _pairs([(3, 4)] * 5 + [(10, 2)] * 3 + [(30, 30)])
    assert ds.batch_plan(20) == [[0, 1, 2, 3, 4], [5, 6], [7], [8]]
    with pytest.raises(ValueError, match="max_tokens must be >= 1"):
        ds.batch_plan(0)


def test_items_and_collate_follow_the_seq2seq_conventions(tok, tmp_path):
    rec = TextPreprocess.of(tok, "en", "de", max_len=64)
    ds = encode_pairs(read_pairs(_pair(tmp_path)), rec, "train")
    assert ds.classes == [] and ds.epoch == 0 and ds.sources == EN and ds.references == DE
    src, tgt, i = ds[1]
    assert i == 1 and src.tolist() == tok.encode(EN[1]) + [EOS] and \
        tgt.tolist() == tok.encode(DE[1]) + [EOS] and src.dtype == tgt.dtype == torch.long
    (s, t_in), t_out, bad = ds.collate([ds[0], ds[1]])
    assert bad == [] and s.shape[0] == t_in.shape[0] == t_out.shape[0] == 2
    assert t_in.shape == t_out.shape
    for row, (x, y, _) in enumerate([ds[0], ds[1]]):
        assert s[row, :len(x)].tolist() == x.tolist() and (s[row, len(x):] == PAD).all()
        assert t_in[row, :len(y)].tolist() == [BOS, *y[:-1].tolist()]
        assert (t_in[row, len(y):] == PAD).all()
        assert t_out[row, :len(y)].tolist() == y.tolist() and (t_out[row, len(y):] == -100).all()


# -- the record --------------------------------------------------------------------------------


def test_record_round_trips_and_carries_the_tokenizer(tok):
    rec = TextPreprocess.of(tok, "en", "de", max_len=100)
    back = read_preprocess(json.loads(json.dumps(rec.to_dict())))
    assert back == rec and type(back) is TextPreprocess and back.kind == "text"
    assert back.input_size == (100,) and back.in_chans == 1 and back.shape == (1, 100)
    assert back.vocab_size == tok.vocab_size and back.tokenizer_model == tok
    assert back.tokenizer_model is back.tokenizer_model  # read once
    assert [x.tolist() for x in back.encode_sources(EN[:2])] == [
        tok.encode(s) + [EOS] for s in EN[:2]]
    assert "<" in repr(back) and len(repr(back)) < 200  # not the base64 model
    with pytest.raises(ValueError, match=r"text preprocessing lacks keys \['max_len'\]"):
        TextPreprocess.from_dict({k: v for k, v in rec.to_dict().items() if k != "max_len"})


def test_a_record_without_tokenizer_says_how_to_get_one():
    rec = TextModality().default_preprocess(dataclasses.replace(
        model_info("xceptiontime"), input_size=(96,), tokens=True), {"vocab_size": 1000})
    assert (rec.tokenizer, rec.vocab_size, rec.max_len) == (None, 1000, 96)
    assert read_preprocess(json.loads(json.dumps(rec.to_dict()))) == rec
    msg = ("this text model has no tokenizer (it was saved without training data): train it "
           "with `dsconv train --data PREFIX.SRC-TGT`")
    with pytest.raises(ValueError) as err:
        list(TextModality().predict_inputs(rec, ["A dog."]))
    assert str(err.value) == msg


# -- the modality ------------------------------------------------------------------------------


def test_training_uses_the_val_sibling_and_evaluate_finds_it(tmp_path):
    spec = _pair(tmp_path)
    _pair(tmp_path, "dev", en=EN[:2], de=DE[:2])
    m = modality_of(spec)
    data = m.training_data(_settings(spec, val_split=0.5), "any")
    assert (len(data.train), len(data.val), data.val_name) == (6, 2, "validation")
    assert data.val.split_name == f"{tmp_path}/dev.en-de (validation pairs)"
    assert (data.preprocess.src_lang, data.preprocess.tgt_lang) == ("en", "de")
    trained = {"data": spec, "val_split": 0.5, "seed": 0}
    ev = m.labelled(None, data.preprocess, [], trained)  # no --data: the sibling again
    assert ev.sources == EN[:2] and ev.references == DE[:2]
    assert [x.tolist() for x in ev.src] == [x.tolist() for x in data.val.src]
    assert m.labelled(None, data.preprocess, [], trained, "train").sources == EN
    other = m.labelled(str(tmp_path / "dev.en-de"), data.preprocess, [], trained)
    assert other.split_name == f"{tmp_path}/dev.en-de (all pairs)"
    with pytest.raises(ValueError, match=r"train.de-en is de to en, but the model translates "
                                         r"en to de: use .*train.en-de$"):
        m.labelled(str(tmp_path / "train.de-en"), data.preprocess, [], trained)
    with pytest.raises(ValueError, match="--data is required: the sentence pairs"):
        m.labelled(None, data.preprocess, [], {})


def test_without_a_sibling_a_seeded_part_is_held_out_and_rebuilt(tmp_path):
    spec = _pair(tmp_path, en=EN * 2, de=DE * 2)
    m = modality_of(spec)
    a = m.training_data(_settings(spec, val_split=0.25, seed=3), "any")
    b = m.training_data(_settings(spec, val_split=0.25, seed=3), "any")
    assert (len(a.train), len(a.val)) == (9, 3) and a.val.sources == b.val.sources
    assert a.preprocess == b.preprocess  # the same tokenizer, byte for byte
    assert "held-out 25% of the training pairs" in a.val.split_name
    ev = m.labelled(spec, a.preprocess, [], {"data": spec, "val_split": 0.25, "seed": 3})
    assert ev.sources == a.val.sources and ev.split_name == a.val.split_name
    none = m.training_data(_settings(spec, val_split=0.0), "any")
    assert none.val is None and len(none.train) == 12


def test_predict_reads_sentences_or_files(tok, tmp_path):
    rec = TextPreprocess.of(tok, "en", "de")
    m = TextModality()
    got = list(m.predict_inputs(rec, ("A dog runs.", "", "Two men.")))
    assert [e for e, _ in got] == [
        {"input": "input[0]", "source": "A dog runs."},
        {"input": "input[1]", "source": "", "error": "empty line: nothing to translate"},
        {"input": "input[2]", "source": "Two men."}]
    assert got[0][1].tolist() == tok.encode("A dog runs.") + [EOS] and got[1][1] is None
    f = _write(tmp_path, "in.en", ["A cat.", "A dog."])
    got = list(m.predict_inputs(rec, [f, tmp_path / "missing.en"]))
    assert [e["input"] for e, _ in got] == [f"{f}:1", f"{f}:2", f"{tmp_path}/missing.en"]
    assert got[2][0]["error"].startswith("file not found")
    with pytest.raises(ValueError, match="the inputs mix files"):
        list(m.predict_inputs(rec, [str(f), "A dog."]))
    with pytest.raises(ValueError, match="a translation model reads sentences"):
        list(m.predict_inputs(rec, torch.zeros(2, 5)))
