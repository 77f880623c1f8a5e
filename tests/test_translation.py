"""Translation end to end: a tiny SliceNet trained on a slice of Multi30k writes one model file
that `predict` and `evaluate` use alone; resume is bit-identical; wrong kinds are refused."""

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dsconv import load_model
from dsconv.cli import main
from dsconv.train import TrainConfig, evaluate, predict, train

ROOT = Path(__file__).resolve().parents[1]
MULTI30K = next((p for p in (ROOT.parent / "shared" / "data" / "multi30k",
                             ROOT / "shared" / "data" / "multi30k") if p.is_dir()), None)
pytestmark = pytest.mark.skipif(MULTI30K is None, reason="shared/data/multi30k is not here")

# A SliceNet small enough to train a few steps in seconds on 2 cores.
TINY = {"hidden": 32, "enc_layers": 1, "dec_layers": 1, "kernels": (3, 3, 5),
        "dilations": (1, 1, 1)}


def _slice(folder: Path, n_train: int = 240, n_val: int = 24) -> str:
    """train.{en,de} and val.{en,de} with the first lines of Multi30k's; returns the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", n_train), ("val", n_val)):
        for lang in ("en", "de"):
            lines = (MULTI30K / f"{part}.{lang}").read_text(encoding="utf-8").splitlines()[:n]
            (folder / f"{part}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder / "train.en-de")


def _config(spec: str, out: Path, **kw) -> TrainConfig:
    base = dict(data=spec, out=str(out), model="slicenet_small", model_args=TINY,
                vocab_size=500, batch_size=600, epochs=2, progress=False, seed=0)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, str, dict]:
    root = tmp_path_factory.mktemp("mt")
    spec = _slice(root / "data")
    summary = train(_config(spec, root / "run"))
    return root / "run" / "model.safetensors", spec, summary


def test_training_logs_translation_figures_and_writes_one_file(trained):
    path, spec, summary = trained
    final = summary["final"]
    assert summary["steps"] > 0 and final["epoch"] == 2
    for key in ("train_loss", "tok_per_s", "val_loss", "val_ppl", "val_bleu", "val_chrf"):
        assert key in final, key
    assert final["val_ppl"] == pytest.approx(torch.tensor(final["val_loss"]).exp().item(),
                                             rel=1e-6)
    model, meta = load_model(path)
    assert meta.preprocess.kind == "text" and meta.preprocess.tokenizer
    assert (meta.preprocess.src_lang, meta.preprocess.tgt_lang) == ("en", "de")
    assert model.cfg.vocab_size == meta.preprocess.vocab_size <= 500


def test_predict_and_evaluate_need_only_the_model_file(trained, tmp_path):
    path, spec, _ = trained
    alone = tmp_path / "elsewhere" / "m.safetensors"
    alone.parent.mkdir()
    shutil.copy(path, alone)
    sentences = ["A man is riding a bike.", "Two dogs play in the snow."]
    results = predict(alone, sentences, beam=2)
    assert [r["input"] for r in results] == ["input[0]", "input[1]"]
    assert all(isinstance(r["translation"], str) for r in results)
    # Greedy = beam 1, through the same entry point.
    assert predict(alone, sentences, beam=1) == predict(alone, sentences, beam=1)
    m = evaluate(alone, str(Path(spec).with_name("val.en-de")), out=tmp_path / "eval", beam=2)
    assert m["n"] == 24 and 0.0 <= m["bleu"] <= 100.0 and "nrefs:1" in m["bleu_signature"]
    hyps = (tmp_path / "eval" / "translations.txt").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == 24


def test_cli_predict_reads_stdin_and_writes_one_line_each(trained, tmp_path):
    path, _, _ = trained
    text = "A man is riding a bike.\nA woman sings.\nChildren run.\n"
    proc = subprocess.run([sys.executable, "-m", "dsconv", "predict", "--weights", str(path),
                           "--beam", "1"], input=text, capture_output=True, text=True,
                          timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    # One line each, even from an untrained model (its byte pieces may decode to \v etc.).
    assert len(proc.stdout.splitlines()) == 3
    # A file: the same translations, in order; an empty line keeps its place and is named.
    src = tmp_path / "in.en"
    src.write_text("A man is riding a bike.\n\nChildren run.\n", encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["predict", "--weights", str(path), "--beam", "1", str(src)])
    lines = out.getvalue().split("\n")[:-1]
    assert code == 1 and len(lines) == 3 and lines[1] == ""
    piped = proc.stdout.splitlines()
    assert lines[0] == piped[0] and lines[2] == piped[2]


def test_evaluate_without_data_uses_the_validation_pairs_beside_the_training_data(trained,
                                                                                   tmp_path):
    path, _, _ = trained
    m = evaluate(path, out=tmp_path / "e", beam=1)
    assert m["n"] == 24 and "val" in m["split"]


def test_resume_after_interruption_is_bit_identical(tmp_path):
    spec = _slice(tmp_path / "data", n_train=160, n_val=8)
    ref = train(_config(spec, tmp_path / "ref"))
    s = train(_config(spec, tmp_path / "cut", time_limit=1e-4))  # stops after step 1
    assert s["steps"] == 1 and s["stopped_early"]
    s = train(_config(spec, tmp_path / "cut", resume=True))
    assert s["steps"] == ref["steps"]
    a = load_file(str(tmp_path / "ref" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_text_model_is_refused_by_image_commands_and_the_reverse(trained, tmp_path, capsys):
    path, spec, _ = trained
    for args in (["export", str(path), str(tmp_path / "m.onnx")],
                 ["quantize", str(path), str(tmp_path / "q.onnx")],
                 ["evaluate", "--weights", str(path), "--data", "digits"]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("translation model" in err or "text" in err), err
    image = tmp_path / "digits.safetensors"
    assert main(["train", "--epochs", "1", "--img-size", "8", "--quiet", "--workers", "0",
                 "--out", str(tmp_path / "img")]) == 0
    shutil.copy(tmp_path / "img" / "model.safetensors", image)
    assert main(["evaluate", "--weights", str(image), "--data", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert "is text data, but this model takes image data" in err, err
    assert main(["train", "--model", "slicenet_small", "--epochs", "1", "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--model slicenet_small takes text data" in err, err


def test_a_source_over_the_model_limit_is_an_error_naming_the_line(trained, tmp_path):
    path, _, _ = trained
    _, meta = load_model(path)
    long = " ".join(["bike"] * (meta.preprocess.max_len + 5))
    results = predict(path, ["A dog runs.", long], beam=1)
    assert "translation" in results[0]
    assert "input[1]" in results[1]["error"] and "max_len" in results[1]["error"]
