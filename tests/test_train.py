"""Training: resume to the bit, DDP = one process, atomic checkpoints, bad data, evaluation."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import dsconv
from dsconv import load_model
from dsconv.cli import main
from dsconv.data import DataConfig, TensorImages, image_folders, labelled_split
from dsconv.train import TrainConfig, evaluate, predict, train
from dsconv.train import checkpoint as ckpt
from dsconv.train.metrics import run_eval
from dsconv.weights import image_preprocess, read_meta, save_model

PY = sys.executable
# Small and fast: the digits at 8x8, 64 per step, 21 steps per epoch.
FAST = ["--img-size", "8", "--batch-size", "64", "--quiet", "--workers", "0"]


def run_cli(args, env=None, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([PY, "-m", "dsconv", *args], env=env, capture_output=True, text=True,
                          timeout=600, **kw)


def params(path):
    return load_file(str(path))


@pytest.mark.slow
def test_kill_and_resume_is_bit_identical(tmp_path):
    ref = run_cli(["train", "--epochs", "2", "--out", str(tmp_path / "ref"), *FAST])
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    args = ["train", "--epochs", "2", "--ckpt-every", "3", "--out", str(out), *FAST]
    proc = subprocess.Popen([PY, "-m", "dsconv", *args], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill mid-epoch 2, after at least one mid-epoch checkpoint
        latest = ckpt.latest_checkpoint(out)
        if latest is not None and int(latest.name.split("-")[1]) >= 27:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "model.safetensors").exists(), "the run finished before it was killed"
    resumed = run_cli(args + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr
    a, b = params(tmp_path / "ref" / "model.safetensors"), params(out / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_ddp_two_processes_equal_single_process(tmp_path):
    # fp32 in both: on a CPU with native bf16, 'auto' times each run and may pick bf16 in one
    common = ["train", "--epochs", "1", "--lr", "1e-3", "--amp", "none", *FAST]
    ddp = subprocess.run(
        [PY, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         "-m", "dsconv", *common, "--out", str(tmp_path / "ddp")],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run_cli([*common, "--accum-steps", "2", "--out", str(tmp_path / "one")])
    assert single.returncode == 0, single.stderr
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["processes"] == 2
    c = summary["rank_checksums"]
    assert len(c) == 2 and c[0] == c[1]  # both ranks hold the same weights
    a = params(tmp_path / "ddp" / "model.safetensors")
    b = params(tmp_path / "one" / "model.safetensors")
    for k in a:
        if "running" in k or "num_batches" in k:
            continue  # BN statistics: rank 0's micro-batch in DDP, both in one process
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)


def test_crash_while_writing_checkpoint_keeps_previous(tmp_path, monkeypatch):
    model = torch.nn.Linear(3, 2)
    ckpt.save_checkpoint(tmp_path, 1, model, {"step": 1})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, 2, model, {"step": 2})
    monkeypatch.undo()
    latest = ckpt.latest_checkpoint(tmp_path)
    assert latest.name == "step-00000001"
    fresh = torch.nn.Linear(3, 2)
    assert ckpt.load_checkpoint(latest, fresh) == {"step": 1}
    assert torch.equal(fresh.weight, before["weight"])


def make_folder(root: Path, classes=("cat", "dog"), per_class=6, size=20, corrupt=1):
    from PIL import Image

    rng = np.random.default_rng(0)
    for ci, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            base = 60 + 120 * ci  # dark vs bright: learnable
            arr = np.clip(rng.normal(base, 20, (size, size + 3, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    for i in range(corrupt):
        (root / classes[0] / f"broken{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def test_folder_training_skips_and_counts_corrupt_images(tmp_path):
    data = make_folder(tmp_path / "data")
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=2, batch_size=4,
                      img_size=16, val_split=0.25, workers=0, progress=False)
    with pytest.warns(UserWarning, match="skipping unreadable image .*broken0.jpg"):
        summary = train(cfg)
    assert summary["skipped_images"] == 1
    assert summary["skipped_files"][0].endswith("broken0.jpg")
    for f in ("model.safetensors", "metrics.csv", "curves.png", "summary.json"):
        assert (tmp_path / "run" / f).is_file()
    res = predict(tmp_path / "run" / "model.safetensors", [data / "dog" / "0.png"], top=2)
    assert {c for c, _ in res[0]["top"]} == {"cat", "dog"}
    assert abs(sum(p for _, p in res[0]["top"]) - 1) < 1e-5
    meta = read_meta(tmp_path / "run" / "model.safetensors")
    assert (meta.provenance["val_split"], meta.provenance["seed"]) == (0.25, 0)  # evaluate's
    shutil.copytree(data, tmp_path / "other")  # not the training folder: every image counts
    with pytest.warns(UserWarning, match="skipping unreadable image .*broken0.jpg"):
        m = evaluate(tmp_path / "run" / "model.safetensors", tmp_path / "other",
                     out=tmp_path / "eval", workers=0)
    assert m["n"] == 12 and len(m["skipped"]) == 1
    assert m["split"] == f"{tmp_path / 'other'} (all images)"
    assert (tmp_path / "eval" / "confusion.png").is_file()


def test_missing_and_empty_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="data directory not found"):
        train(TrainConfig(data=str(tmp_path / "nope"), out=str(tmp_path / "r"), progress=False))
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "b").mkdir()
    with pytest.raises(ValueError, match="class 'a' has no images"):
        train(TrainConfig(data=str(tmp_path / "d"), out=str(tmp_path / "r"), progress=False))
    r = run_cli(["train", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "r")])
    assert r.returncode == 2 and "class 'a' has no images" in r.stderr
    assert "Traceback" not in r.stderr


def test_evaluate_hand_checked():
    # 3 classes; the "model" returns the pixels as logits, so predictions are chosen by hand.
    x = torch.tensor([[5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5], [5, 0, 0], [0, 3, 4]],
                     dtype=torch.float32).view(6, 3, 1, 1)
    y = torch.tensor([0, 1, 0, 2, 2, 1])
    ds = TensorImages(x, y, ["a", "b", "c"])
    m = run_eval(torch.nn.Flatten(), ds, 3, batch_size=4)
    # predictions: 0, 1, 1, 2, 0, 2 -> correct: samples 0, 1, 3 -> 3/6
    assert m["top1"] == pytest.approx(0.5)
    assert m["confusion"] == [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    assert m["per_class"] == [pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5)]
    assert m["top5"] == 1.0  # 3 classes: top-k is all of them


def test_weights_for_another_model_are_refused(tmp_path):
    import dsconv
    from dsconv.weights import load_weights, save_weights

    p = tmp_path / "w.safetensors"
    save_weights(dsconv.create_model("xception_mini", num_classes=10), p)
    shapes = "head.fc.weight: model \\(3, 256\\) vs file \\(10, 256\\)"
    with pytest.raises(ValueError, match=shapes):
        load_weights(dsconv.create_model("xception_mini", num_classes=3), p)
    with pytest.raises(ValueError, match="does not fit MobileNetV1"):
        load_weights(dsconv.create_model("mobilenet_v1", alpha=0.25), p)
    with pytest.raises(ValueError, match="no dsconv metadata"):
        predict(p, [p])


@pytest.mark.slow
def test_diverging_run_stops_with_clear_message(tmp_path):
    r = run_cli(["train", "--epochs", "1", "--lr", "1e6", "--ckpt-every", "1",
                 "--out", str(tmp_path / "nan"), *FAST])
    assert r.returncode == 3 and "loss became nan" in r.stderr and "Traceback" not in r.stderr
    # With this seed the loss is NaN at step 2: the update of step 1 made NaN weights, already
    # written as checkpoint 2. The one named (and `latest`) must be the last finite one.
    named = Path(r.stderr.split("last good checkpoint is ")[1].split(":")[0])
    assert named.name == "step-00000001"
    assert ckpt.latest_checkpoint(tmp_path / "nan") == named
    model = __import__("dsconv").create_model("xception_mini", in_chans=1, num_classes=10)
    state = ckpt.load_checkpoint(named, model)
    assert state["step"] == 1
    assert all(p.isfinite().all() for p in model.parameters())
    # ... and the resume the message suggests continues from it.
    r = run_cli(["train", "--epochs", "1", "--lr", "1e-3", "--ckpt-every", "1", "--resume",
                 "--out", str(tmp_path / "nan"), *[a for a in FAST if a != "--quiet"]])
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout and "--lr 0.001 (the run has 1000000.0)" in r.stdout


def test_amp_auto_is_fp32_on_cpu_and_fp16_needs_cuda():
    from dsconv.train.precision import choose_precision, resolve_amp

    cpu = torch.device("cpu")
    # fp32 where bf16 is emulated (5.9x slower), whatever CPU the suite runs on
    assert choose_precision("auto", cpu, bf16_flags=[]).dtype is None
    assert choose_precision("auto", cpu, bf16_flags=["avx512_bf16"]).dtype == torch.bfloat16
    assert resolve_amp("bf16", cpu) == torch.bfloat16  # still allowed when asked for
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_amp("fp16", cpu)
    with pytest.raises(ValueError, match="amp='fp8'"):
        resolve_amp("fp8", cpu)


# Tiny in-process runs for --save-best / --patience: digits at 8x8, 5 steps per epoch.
TINY = dict(img_size=8, batch_size=256, workers=0, precise_bn=0, progress=False)


def scripted_val_top1(monkeypatch, values):
    """Validation reports `values[epoch - 1]` as val_top1: the stopping decisions are known."""
    from dsconv.train import trainer

    monkeypatch.setattr(trainer, "validate", lambda run: {
        "val_loss": 1.0, "val_top1": values[run.step // run.steps_per_epoch - 1]})


def model_meta(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        return json.loads(fh.metadata()["dsconv"])


@pytest.mark.slow
def test_patience_stops_early_and_a_resumed_run_decides_the_same(tmp_path, monkeypatch):
    from dsconv.train import trainer

    # Best at epoch 1; epochs 2 and 3 do not beat it (0.7 is no improvement): stop after 3.
    scripted_val_top1(monkeypatch, [0.7, 0.6, 0.7, 0.9, 0.9])
    cfg = TrainConfig(out=str(tmp_path / "ref"), epochs=5, save_best="val_top1", patience=2,
                      keep_checkpoints=5, **TINY)
    s = train(cfg)
    message = ("stopped early at epoch 3: val_top1 has not improved for 2 epochs; best 1 (0.7) "
               "in best.safetensors")
    assert s["stopped_early"] == message
    assert s["final"]["epoch"] == 3 and s["steps"] == 15
    assert s["best"] == {"epoch": 1, "metric": "val_top1", "value": 0.7,
                         "path": str(tmp_path / "ref" / "best.safetensors")}
    best = tmp_path / "ref" / "best.safetensors"
    assert model_meta(best)["provenance"]["best"] == {"epoch": 1, "metric": "val_top1",
                                                      "value": 0.7}
    epoch1 = tmp_path / "ref" / "checkpoints" / "step-00000005" / "weights.safetensors"
    for k, v in params(epoch1).items():  # the file holds epoch 1's weights, not the last
        assert torch.equal(params(best)[k], v), k
    last = tmp_path / "ref" / "checkpoints" / "step-00000015" / "weights.safetensors"
    assert all(torch.equal(params(tmp_path / "ref" / "model.safetensors")[k], v)
               for k, v in params(last).items())  # model.safetensors: the last epoch's
    # The same run, interrupted after epoch 2 (one epoch without improvement), then resumed.
    real_log = trainer.log_epoch

    def log_then_die(run, row):
        real_log(run, row)
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "log_epoch", log_then_die)
    cut = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "cut")})
    with pytest.raises(KeyboardInterrupt):
        train(cut)
    monkeypatch.setattr(trainer, "log_epoch", real_log)
    resumed = train(TrainConfig(**{**cut.__dict__, "resume": True}))
    assert resumed["stopped_early"] == message and resumed["steps"] == 15
    for name in ("best.safetensors", "model.safetensors"):
        a, b = params(tmp_path / "ref" / name), params(tmp_path / "cut" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # Resuming a run that has stopped trains no further and says why again.
    again = train(TrainConfig(**{**cut.__dict__, "resume": True}))
    assert again["stopped_early"] == message and again["steps"] == 15


def test_save_best_cli_keeps_the_best_epoch(tmp_path, capsys):
    from dsconv.cli import main

    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--save-best", "val_loss", "--out", str(out),
                 "--img-size", "8", "--batch-size", "256", "--workers", "0", "--quiet"]) == 0
    assert f"wrote {out}/model.safetensors, best.safetensors" in capsys.readouterr().out
    with open(out / "metrics.csv") as fh:
        losses = [float(row["val_loss"]) for row in csv.DictReader(fh)]
    best = model_meta(out / "best.safetensors")["provenance"]["best"]
    assert best["metric"] == "val_loss" and best["value"] == min(losses)
    assert best["epoch"] == 1 + losses.index(min(losses))
    _, meta = load_model(out / "best.safetensors")  # a model file like model.safetensors
    assert meta.classes == [str(i) for i in range(10)]


def test_save_best_and_patience_need_a_validation_set(tmp_path, capsys):
    from dsconv.cli import main

    data = make_folder(tmp_path / "data", corrupt=0)
    cfg = TrainConfig(data=str(data), out=str(tmp_path / "r"), val_split=0, save_best="val_loss",
                      **TINY)
    with pytest.raises(ValueError, match=r"^--save-best val_loss watches a validation metric, "
                                         "but this run has no validation set: set --val-split"):
        train(cfg)
    assert main(["train", "--data", str(data), "--val-split", "0", "--patience", "3",
                 "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsconv train: error: --patience 3 watches a validation metric")
    assert len(err.splitlines()) == 1 and not (tmp_path / "r2" / "checkpoints").exists()


# ------------------------------------------------------------------ folders, splits, inputs


def image_model(path: Path, data: Path | None = None, **split) -> Path:
    """An untrained 2-class xception_mini model file (16 px), trained on `data` per its
    provenance, with the run's held-out split when given (val_split=, seed=)."""
    model = dsconv.create_model("xception_mini", num_classes=2)
    return save_model(model, path, "xception_mini", ["cat", "dog"], image_preprocess(16, 3),
                      {"data": None if data is None else str(data), **split})


def test_evaluate_scores_the_held_out_images_of_the_training_folder(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", per_class=8, corrupt=0)
    weights = image_model(tmp_path / "m.safetensors", data, val_split=0.25, seed=0)
    run_train, run_val = image_folders(data, DataConfig(img_size=16, val_split=0.25, seed=0))
    prov = read_meta(weights).provenance
    held = labelled_split(image_preprocess(16, 3), ["cat", "dog"], data, prov)
    assert held.samples == run_val.samples and len(held) == 4  # exactly the run's val images
    rest = labelled_split(image_preprocess(16, 3), ["cat", "dog"], data, prov, split="train")
    assert rest.samples == run_train.samples  # what quantize calibrates on
    monkeypatch.chdir(tmp_path)  # the same folder, named another way
    m = evaluate(weights, "data", workers=0, out=tmp_path / "eval")
    assert m["n"] == 4 and m["split"] == "data (held-out 25% of the training folder)"
    shutil.copytree(data, tmp_path / "copy")
    m = evaluate(weights, tmp_path / "copy", workers=0, out=tmp_path / "eval")
    assert m["n"] == 16 and m["split"] == f"{tmp_path / 'copy'} (all images)"
    old = image_model(tmp_path / "old.safetensors", data)  # a file that records no split
    m = evaluate(old, data, workers=0, out=tmp_path / "eval")
    assert m["n"] == 16 and "may include the model's training images" in m["split"]


def test_one_image_class_one_class_and_an_image_file_are_clear_errors(tmp_path, capsys):
    data = make_folder(tmp_path / "data", per_class=4, corrupt=0)
    (data / "bird").mkdir()
    shutil.copy(data / "cat" / "0.png", data / "bird" / "0.png")
    with pytest.raises(ValueError) as info:  # was scikit-learn's "least populated class"
        image_folders(data, DataConfig(val_split=0.1))
    msg = str(info.value)
    assert f"only 1 image in class folder(s) {data / 'bird'}" in msg, msg
    assert "--val-split 0" in msg and "add images" in msg
    assert image_folders(data, DataConfig(val_split=0))[1] is None  # the fix works
    one = make_folder(tmp_path / "one", classes=("cat",), corrupt=0)
    with pytest.raises(ValueError, match=r"one class \('cat'\): nothing to learn; a classifier "
                       "needs at least 2 class folders"):
        image_folders(one, DataConfig(val_split=0))
    rc = main(["train", "--data", str(data / "cat" / "0.png"), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "0.png is an image file, not a folder" in err, err
    assert "folder of class folders" in err and "directory not found" not in err


def test_predict_takes_folders_arrays_and_writes_csv(tmp_path, capsys):
    from PIL import Image

    data = make_folder(tmp_path / "data", per_class=2, corrupt=0)
    (data / "dog" / "deeper").mkdir()
    shutil.copy(data / "dog" / "0.png", data / "dog" / "deeper" / "5.png")
    shutil.copy(data / "dog" / "0.png", data / "dog" / ".hidden.png")
    (data / "notes.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    weights = image_model(tmp_path / "m.safetensors")
    res = predict(weights, [data, tmp_path / "empty"], top=1)
    names = [Path(r["input"]).relative_to(data).as_posix() for r in res[:-1]]
    assert names == ["cat/0.png", "cat/1.png", "dog/0.png", "dog/1.png", "dog/deeper/5.png"]
    assert "holds no image files" in res[-1]["error"] and res[0]["image"] == res[0]["input"]
    # a batch of raw pixels, either layout, predicts as the file they came from does
    px = np.asarray(Image.open(data / "cat" / "1.png"))  # (H, W, 3) uint8
    by_file = predict(weights, data / "cat" / "1.png", top=2)[0]["top"]
    nhwc = predict(weights, np.stack([px, px]), top=2)
    nchw = predict(weights, torch.from_numpy(px.copy()).permute(2, 0, 1)[None].bfloat16(),
                   top=2)  # 0..255 are exact in bf16
    assert [r["input"] for r in nhwc] == ["input[0]", "input[1]"]
    assert nhwc[1]["top"] == by_file and nchw[0]["top"] == by_file
    with pytest.raises(ValueError, match=r"pixels must be in \[0, 255\].*\[-1, 1\]"):
        predict(weights, np.linspace(-1, 1, 2 * 8 * 8 * 3).reshape(2, 8, 8, 3))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(N, H, W, C\).*\(8, 8, 3\)"):
        predict(weights, px[:8, :8])
    rc = main(["predict", "--weights", str(weights), str(data), "--top", "2", "--csv",
               str(tmp_path / "p.csv")])
    out = capsys.readouterr().out
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rc == 0 and f"wrote {tmp_path / 'p.csv'}: 5 rows" in out
    assert rows[0] == ["input", "top1", "prob1", "top2", "prob2", "note", "error"]
    assert len(rows) == 6 and {r[1] for r in rows[1:]} <= {"cat", "dog"}
    assert all(abs(float(r[2]) + float(r[4]) - 1) < 1e-4 for r in rows[1:])


def test_help_names_the_series_forms_and_folders():
    from dsconv.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    evaluate_help = sub.choices["evaluate"].format_help()
    predict_help = " ".join(sub.choices["predict"].format_help().split())
    for form in ("aeon:NAME", ".npz", ".ts"):
        assert form in evaluate_help and (form in predict_help or form == "aeon:NAME"), form
    assert "images or series files (.npz" in predict_help and "or folders" in predict_help


def test_time_limit_stops_saves_and_resumes_to_the_bit(tmp_path):
    """--time-limit stops mid-epoch with a usable model file and says so; --resume then ends
    exactly where an uninterrupted run ends."""
    fast = dict(img_size=8, batch_size=64, workers=0, epochs=2, progress=False)
    ref = train(TrainConfig(out=str(tmp_path / "ref"), **fast))
    out = tmp_path / "limited"
    s = train(TrainConfig(out=str(out), time_limit=1e-4, **fast))  # 6 ms: after step 1
    assert s["steps"] == 1 and "time limit of 0.0001 min, at step 1 of 42" in s["stopped_early"]
    assert load_model(out / "model.safetensors")[1].provenance["steps"] == 1
    s = train(TrainConfig(out=str(out), resume=True, **fast))
    assert s["steps"] == ref["steps"] == 42 and not s["stopped_early"]
    with open(out / "metrics.csv") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "1", "2"]  # the partial row too
    a, b = params(tmp_path / "ref" / "model.safetensors"), params(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_alone_keeps_the_runs_model_args(tmp_path):
    """`--resume --out DIR` need not repeat the run's --model-arg values: an empty dict is
    not a change (it was refused as one)."""
    from dsconv.train.setup import prepare_out

    out = tmp_path / "run"
    saved = TrainConfig(out=str(out), epochs=2, model_args={"nf": 4}).__dict__
    ckpt.save_checkpoint(out, 5, torch.nn.Linear(1, 1),
                         {"config": saved, "step": 5, "history": [{"epoch": 1}]})
    _, _, cfg = prepare_out(TrainConfig(out=str(out), resume=True, progress=False), 0)
    assert cfg.model_args == {"nf": 4} and cfg.epochs == 2
    with pytest.raises(ValueError, match=r"--model-args \{'nf': 8\} \(the run has"):
        prepare_out(TrainConfig(out=str(out), resume=True, model_args={"nf": 8}), 0)


def test_rsqrt_schedule_peaks_after_warm_up_then_falls_as_the_inverse_square_root():
    from dsconv.train.config import RECIPES
    from dsconv.train.schedule import lr_at

    r = RECIPES["translate"]  # lr 1e-3, one epoch of warm-up
    lrs = [lr_at(s, 100, 10_000, r) for s in range(1000)]
    assert lrs[0] == pytest.approx(1e-5) and lrs[99] == pytest.approx(1e-3)  # linear, peak
    assert lrs[399] == pytest.approx(1e-3 * (100 / 400) ** 0.5)  # continuous at the peak
    assert all(a >= b for a, b in zip(lrs[99:], lrs[100:]))


def test_epoch_batches_keep_a_planned_partition_and_split_like_before():
    from dsconv.data import epoch_batches, epoch_order, split_batch

    class Planned:
        def __len__(self):
            return 10

        def batch_plan(self, max_tokens):
            return [[0, 1, 2], [3, 4], [5, 6, 7, 8], [9]]

    e0, e1 = (epoch_batches(Planned(), 4000, 0, e) for e in (0, 1))
    assert sorted(map(tuple, e0)) == sorted(map(tuple, e1)) and e0 != e1  # same batches, order
    plain = epoch_batches(list(range(10)), 4, 0, 3)  # 10 items, batch 4: two batches
    assert plain == [epoch_order(10, 0, 3)[:4].tolist(), epoch_order(10, 0, 3)[4:8].tolist()]
    assert split_batch(list(range(8)), 4) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert split_batch(list(range(5)), 2) == [[0, 1, 2], [3, 4]]


def test_series_step_budget_gives_a_tiny_set_small_batches_and_the_recipes_minimum_of_steps():
    """The 'series' recipe's rule, without --batch-size and --epochs: batches of a tenth of the
    training set (InceptionTime's), at least 4 and at most 16; then epochs = max(100,
    ceil(min_steps / steps per epoch)). ArrowHead's 36 series: batches of 4, 9 steps an epoch,
    so 112 epochs reach 1000 steps; JapaneseVowels' 270: batches of 16, and 100 epochs of 16
    steps already do."""
    from dsconv.train.config import RECIPES, SERIES_MIN_STEPS
    from dsconv.train.setup import small_set_batch, step_budget

    recipe, sized = RECIPES["series"], (lambda n: type("Set", (), {"__len__": lambda _: n})())
    cfg = TrainConfig(data="aeon:ArrowHead", progress=False).with_defaults()
    assert (cfg.epochs, cfg.batch_size, SERIES_MIN_STEPS) == (100, 16, 1000)
    assert [small_set_batch(cfg, recipe, sized(n), 1).batch_size
            for n in (10, 36, 67, 270, 5000)] == [4, 4, 6, 16, 16]
    assert small_set_batch(cfg, recipe, sized(67), 4).batch_size == 4  # a multiple of 4 ranks
    assert step_budget(cfg, recipe, 36 // 4).epochs == -(-SERIES_MIN_STEPS // 9) == 112
    assert step_budget(cfg, recipe, 270 // 16).epochs == 100
    images = RECIPES["default"]
    assert small_set_batch(cfg, images, sized(36), 1).batch_size == 16
    assert step_budget(cfg, images, 2).epochs == 100


def test_validations_group_epochs_and_a_run_resumed_between_them_ends_the_same(tmp_path):
    """--validations 2 over 4 epochs validates (and checkpoints, and logs) after epochs 2 and
    4 only; a run stopped inside the first pair of epochs and resumed validates at the same
    epochs after that and ends bit-identical to the uninterrupted one."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(24, 2, 16)).astype("float32"),
             y=np.repeat(["a", "b"], 12))
    fast = dict(data=str(tmp_path / "d.npz"), model="xceptiontime", batch_size=8, epochs=4,
                validations=2, model_args={"nf": 2}, progress=False)
    ref = train(TrainConfig(out=str(tmp_path / "ref"), **fast))
    with open(tmp_path / "ref" / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["2", "4"] and all(r["val_top1"] for r in rows)
    assert ref["steps"] == 8 and "samples" not in rows[0]
    assert train(TrainConfig(out=str(tmp_path / "cut"), time_limit=1e-6, **fast))["steps"] == 1
    s = train(TrainConfig(out=str(tmp_path / "cut"), resume=True, **fast))
    with open(tmp_path / "cut" / "metrics.csv") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2", "4"]  # 1: the stop's row
    assert s["steps"] == 8
    a, b = (params(tmp_path / d / "model.safetensors") for d in ("ref", "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_series_runs_with_the_numba_kernels_repeat_and_resume_to_the_bit(tmp_path, monkeypatch):
    """Two seeded series runs through the numba depthwise kernels end with the same weights, and
    so does one stopped after its first step and resumed. The kernels' grad_weight once summed
    the batch in per-worker parts that depended on thread scheduling: runs ended apart."""
    import dsconv.layers.depthwise1d as D
    from dsconv.train import plots

    if D._numba is None:
        pytest.skip("numba not installed")
    monkeypatch.setattr(plots, "plot_curves", lambda *a: None)  # ~1 s a run, nothing tested here
    calls = []
    real_backward = D._numba.backward
    monkeypatch.setattr(D, "USE_NUMBA", True)
    monkeypatch.setattr(D._numba, "backward", lambda *a: calls.append(1) or real_backward(*a))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", X=rng.normal(size=(32, 3, 64)), y=np.arange(32) % 3)
    fast = dict(data=str(tmp_path / "s.npz"), model_args={"nf": 8}, batch_size=16, epochs=2,
                val_split=0.0, precise_bn=0, progress=False)
    # Two kernel workers (the case whose sums used to follow scheduling); torch's own ops stay
    # on one thread, as run_cli's, whose OpenMP barriers stall on a busy machine.
    monkeypatch.setattr(D._numba, "_workers", lambda: 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [train(TrainConfig(out=str(tmp_path / name), **fast)) for name in ("a", "b")]
        assert calls, "the numba kernels did not run"
        out = tmp_path / "resumed"
        s = train(TrainConfig(out=str(out), time_limit=1e-4, **fast))  # stops after step 1
        assert s["steps"] == 1
        s = train(TrainConfig(out=str(out), resume=True, **fast))
        assert s["steps"] == runs[0]["steps"] == 4
    finally:
        torch.set_num_threads(threads)
    a = params(tmp_path / "a" / "model.safetensors")
    for other in ("b", "resumed"):
        b = params(tmp_path / other / "model.safetensors")
        assert all(torch.equal(a[k], b[k]) for k in a), other
