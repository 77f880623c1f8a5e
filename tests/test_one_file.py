"""One model file through every command, fine-tuning from Keras weights, and each break a new
user hit (issue 9): every test here failed before its fix."""

import json
import os
import shutil
import stat

import numpy as np
import pytest
import torch
from PIL import Image

import dsconv
from dsconv.cli import main
from dsconv.train import TrainConfig, train
from dsconv.weights import load_model, read_meta


@pytest.fixture(scope="module")
def keras_mobilenet(tmp_path_factory):
    """A Keras MobileNet v1 (alpha 0.25, 1000 classes) with seeded random weights, as .h5."""
    import keras
    from keras_ref import randomize

    d = tmp_path_factory.mktemp("keras")
    m = keras.applications.MobileNet(weights=None, alpha=0.25, input_shape=(32, 32, 3))
    randomize(m, seed=3)
    m.save_weights(d / "mobilenet_025.weights.h5")
    return d / "mobilenet_025.weights.h5"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Digits 0-2 as 32x32 RGB PNGs in train/ and val/ (an ImageFolder a user would have)."""
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits_folder")
    d = load_digits()
    for split, lo, hi in (("train", 0, 40), ("val", 40, 52)):
        for c in range(3):
            (root / split / str(c)).mkdir(parents=True)
            for i, img in enumerate(d.images[d.target == c][lo:hi]):
                px = (img * 15.9).astype(np.uint8)
                Image.fromarray(px).resize((32, 32)).convert("RGB").save(
                    root / split / str(c) / f"{i}.png")
    return root


def image(folder, c=1):
    return str(next((folder / "val" / str(c)).glob("*.png")))


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


# ------------------------------------------------------------------ the whole chain


@pytest.mark.slow
def test_keras_file_to_finetuned_evaluated_predicted_exported_quantized(
        keras_mobilenet, folder, tmp_path, capsys):
    conv = tmp_path / "imagenet.safetensors"
    rc, out, err = cli(capsys, "convert", "keras", keras_mobilenet, conv)
    assert rc == 0, err
    assert read_meta(conv).config["alpha"] == 0.25  # the file said so; no --alpha needed
    rc, out, err = cli(capsys, "predict", "--weights", conv, image(folder))
    assert rc == 0 and len(out.split(", ")) == 5, err  # five ImageNet names
    run = tmp_path / "ft"
    rc, out, err = cli(capsys, "train", "--init", conv, "--data", folder, "--freeze-epochs",
                       "1", "--epochs", "2", "--batch-size", "30", "--img-size", "32",
                       "--workers", "0", "--out", run)
    assert rc == 0, err
    assert "--init" in out and "loaded" in out  # the load report
    model = run / "model.safetensors"
    assert read_meta(model).classes == ["0", "1", "2"]
    rc, out, err = cli(capsys, "evaluate", "--weights", model, "--data", folder)
    assert rc == 0 and "36 images" in out and "top-5" not in out, err
    rc, torch_out, err = cli(capsys, "predict", "--weights", model, image(folder))
    assert rc == 0, err
    onnx_file = tmp_path / "ft.onnx"
    rc, out, err = cli(capsys, "export", model, onnx_file)
    assert rc == 0 and "any input size" in out, err  # MobileNet exports with dynamic H, W
    rc, onnx_out, err = cli(capsys, "predict", "--weights", onnx_file, image(folder))
    assert rc == 0 and onnx_out.split(",")[0] == torch_out.split(",")[0], (onnx_out, torch_out)
    rc, out, err = cli(capsys, "quantize", model, tmp_path / "q.onnx", "--data", folder,
                       "--json")
    assert rc == 0, err
    assert json.loads(out)["n"] == 36


def finetune_cfg(init, folder, out, **kw):
    return TrainConfig(init=str(init), data=str(folder), out=str(out), img_size=32,
                       batch_size=30, workers=0, progress=False, **kw)


def test_frozen_epochs_leave_every_base_tensor_and_bn_statistic_bit_identical(
        keras_mobilenet, folder, tmp_path):
    train(finetune_cfg(keras_mobilenet, folder, tmp_path / "a", freeze_epochs=1, epochs=1))
    tuned, _ = load_model(tmp_path / "a" / "model.safetensors")
    start, _ = load_model(keras_mobilenet)
    base = {k: v for k, v in start.state_dict().items() if k.startswith("blocks.")}
    got = tuned.state_dict()
    assert len(base) > 100
    changed = [k for k, v in base.items() if not torch.equal(v, got[k])]
    assert not changed, changed[:5]
    assert tuned.head.fc.out_features == 3  # the new classifier trained
    assert not torch.equal(tuned.head.fc.weight, start.head.fc.weight[:3])


@pytest.mark.slow
def test_resumed_finetune_is_bit_identical(keras_mobilenet, folder, tmp_path):
    from dsconv.train.checkpoint import latest_checkpoint

    full, part = tmp_path / "full", tmp_path / "part"
    kw = dict(freeze_epochs=1, epochs=3, keep_checkpoints=3)
    train(finetune_cfg(keras_mobilenet, folder, full, **kw))
    train(finetune_cfg(keras_mobilenet, folder, part, **kw))
    # Interrupted after the frozen epoch: its later checkpoints and the model never written.
    ckpts = sorted((part / "checkpoints").glob("step-*"))
    assert len(ckpts) == 3
    for c in ckpts[1:]:
        shutil.rmtree(c)
    (part / "checkpoints" / "latest").write_text(ckpts[0].name)
    (part / "model.safetensors").unlink()
    assert latest_checkpoint(part) == ckpts[0]
    train(finetune_cfg(keras_mobilenet, folder, part, resume=True, **kw))
    a, _ = load_model(full / "model.safetensors")
    b, _ = load_model(part / "model.safetensors")
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k
    # ... and after the frozen epoch the base did train (at base_lr_scale x the head's rate).
    start, _ = load_model(keras_mobilenet)
    assert not torch.equal(a.blocks.block5.sepconv.pointwise.weight,
                           start.blocks.block5.sepconv.pointwise.weight)


# ------------------------------------------------------------------ the CLI as the API's shell


def test_help_for_the_program_and_every_subcommand(capsys):
    from dsconv.cli import build_parser

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0, name
        assert "default" in capsys.readouterr().out or name == "models", name
        undocumented = [a.dest for a in parser._actions if not a.help]
        assert not undocumented, (name, undocumented)


def test_every_train_config_field_has_a_flag():
    import dataclasses

    from dsconv.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    dests = {a.dest for a in sub.choices["train"]._actions}
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"model_args"}
    assert fields <= dests, fields - dests
    assert {"alpha", "in_chans", "model_arg"} <= dests


# ------------------------------------------------------------------ each break, fixed


def test_keras_file_predicts_imagenet_names_and_preprocess_takes_numpy(keras_mobilenet,
                                                                       folder, capsys):
    from dsconv.data import imagenet_classes, preprocess_input

    rc, out, err = cli(capsys, "predict", "--weights", keras_mobilenet, image(folder))
    names = {n for _, n in imagenet_classes()}
    assert rc == 0, err
    top = [p.rsplit(" ", 1)[0] for p in out.split(": ", 1)[1].split(", ")]
    assert len(top) == 5 and set(top) <= names
    x = np.array([[0, 127.5, 255]], dtype=np.float32)
    assert preprocess_input(x).tolist() == [[-1.0, 0.0, 1.0]]


def test_export_reads_the_file_and_refuses_random_weights(tmp_path, capsys):
    from dsconv.weights import save_model

    m = dsconv.create_model("xception_mini", in_chans=1, num_classes=4)
    save_model(m, tmp_path / "gray.safetensors", "xception_mini", list("abcd"))
    rc, out, err = cli(capsys, "export", tmp_path / "gray.safetensors", tmp_path / "g.onnx")
    assert rc == 0, err
    from dsconv.deploy import onnx_metadata

    meta = json.loads(onnx_metadata(tmp_path / "g.onnx")["dsconv"])
    assert meta["classes"] == list("abcd") and meta["preprocess"]["in_chans"] == 1
    rc, out, err = cli(capsys, "export", "xception_mini", tmp_path / "r.onnx")
    assert rc == 2 and "--random" in err


def test_model_file_is_readable_by_others(tmp_path):
    from dsconv.weights import save_model

    p = save_model(dsconv.create_model("xception_mini"), tmp_path / "m.safetensors",
                   "xception_mini")
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644


def test_paper_recipe_ema_ramps_like_tensorflow():
    from dsconv.train.ema import EMA

    m = torch.nn.Linear(2, 2)
    ema = EMA(m, 0.9999)
    before = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(1.0)
    ema.update(m)  # n = 0: decay min(0.9999, 1/10) = 0.1
    torch.testing.assert_close(ema.state["weight"], 0.1 * before + 0.9 * m.weight)


@pytest.mark.slow
def test_one_epoch_is_far_above_chance(tmp_path):
    s = train(TrainConfig(out=str(tmp_path), epochs=1, progress=False))
    assert s["final"]["val_top1"] > 0.8, s["final"]  # was 0.096: stale BN statistics


def test_16_bit_png_decodes_like_the_8_bit_one(tmp_path):
    from dsconv.data import open_image

    rng = np.random.default_rng(0)
    px8 = rng.integers(0, 80, (16, 16), dtype=np.uint8)
    Image.fromarray(px8).save(tmp_path / "a8.png")
    Image.fromarray(px8.astype(np.uint16) * 257).save(tmp_path / "a16.png")
    assert Image.open(tmp_path / "a16.png").mode.startswith("I")
    a8 = np.asarray(open_image(tmp_path / "a8.png"), dtype=float)
    a16 = np.asarray(open_image(tmp_path / "a16.png"), dtype=float)
    assert np.abs(a8 - a16).max() <= 1  # was saturated: mean 0.998 vs 0.140


def test_predict_goes_on_past_missing_and_unreadable_files(keras_mobilenet, folder, tmp_path,
                                                          capsys):
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    rc, out, err = cli(capsys, "predict", "--weights", keras_mobilenet, image(folder),
                       tmp_path / "missing.jpg", tmp_path / "broken.jpg")
    lines = out.strip().splitlines()
    assert rc == 1 and len(lines) == 3
    assert "error" not in lines[0]
    assert "missing.jpg: error: file not found" in lines[1]
    assert "broken.jpg: error: unreadable image" in lines[2]
    assert "Warning" not in err


def test_run_folder_is_never_overwritten_or_resumed_silently(tmp_path, capsys):
    out = tmp_path / "run"
    fast = ["--img-size", "8", "--workers", "0", "--out", out]
    rc, o, e = cli(capsys, "train", "--epochs", "1", "--resume", *fast)
    assert rc == 0 and "no checkpoint" in o and "starting from scratch" in o
    rc, o, e = cli(capsys, "train", "--epochs", "1", *fast)
    assert rc == 2 and "already holds a run" in e and "--overwrite" in e
    rc, o, e = cli(capsys, "train", "--epochs", "2", "--resume", "--model", "mobilenet_v1",
                   *fast)
    assert rc == 2 and "--model 'mobilenet_v1'" in e
    rc, o, e = cli(capsys, "train", "--epochs", "2", "--resume", *fast)
    assert rc == 0 and "resuming" in o and "step 21, epoch 1" in o
    rc, o, e = cli(capsys, "train", "--epochs", "1", "--resume", *fast)
    assert rc == 2 and "beyond --epochs 1" in e


def test_bad_settings_are_one_line_errors(tmp_path, capsys):
    for args, words in ((["--device", "cuda"], "no CUDA GPU"),
                        (["--epochs", "0"], "--epochs 0: must be >= 1"),
                        (["--val-split", "1.5"], "--val-split 1.5: must be in [0, 1)")):
        if args[0] == "--device" and torch.cuda.is_available():
            continue
        rc, o, e = cli(capsys, "train", "--out", tmp_path / "x", *args)
        assert rc == 2 and words in e and "Traceback" not in e, e


def test_weight_errors_name_the_fix(keras_mobilenet, tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="pickled PyTorch file.*safetensors"):
        load_model(tmp_path / "model.pt")
    with pytest.raises(ValueError, match="holds mobilenet_v1, not xception.*--alpha 0.25"):
        load_model(keras_mobilenet, "xception")
    with pytest.raises(ValueError, match="--alpha 0.25"):
        dsconv.create_model("mobilenet_v1", alpha=0.5, weights=keras_mobilenet)
    model, meta = load_model(keras_mobilenet, "mobilenet_v1")  # alpha read from the file
    assert model.cfg.alpha == 0.25 and len(meta.classes) == 1000


def test_load_report_prints_a_line_per_problem(keras_mobilenet):
    from dsconv.weights import load_keras_weights

    m = dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=3)
    text = str(load_keras_weights(m, keras_mobilenet, strict=False))
    assert text.splitlines()[0].startswith("loaded 54 Keras layers")
    assert "skipped conv_preds" in text


def test_num_classes_zero_gives_pooled_features_and_mid_act_takes_an_instance():
    m = dsconv.create_model("xception_mini", num_classes=0).eval()
    assert m(torch.randn(2, 3, 16, 16)).shape == (2, 256)
    from dsconv.layers import SeparableConv2d

    sep = SeparableConv2d(4, 8, 3, mid_act=torch.nn.ReLU())
    assert isinstance(sep.mid_act, torch.nn.ReLU)
    assert sep(torch.randn(1, 4, 5, 5)).shape == (1, 8, 5, 5)


def test_bench_never_reports_above_its_roof(capsys):
    rc, out, err = cli(capsys, "bench", "xception_mini", "--input", "16", "--batch", "2",
                       "--backend", "eager", "--reps", "2", "--json")
    assert rc == 0, err
    assert all(r["roof_pct"] <= 100 for r in json.loads(out)["rows"])


def test_checkpoints_of_dsconv_0_1_still_resume():
    from dsconv.train.ema import EMA
    from dsconv.train.setup import upgrade_config

    old = {"model": "xception_mini", "model_kwargs": {"in_chans": 1}, "epochs": 15,
           "recipe": "default", "gone_field": 1}
    cfg = TrainConfig(**upgrade_config(old))
    assert cfg.model_args == {"in_chans": 1} and cfg.epochs == 15
    m = torch.nn.Linear(2, 2)
    ema = EMA(m, 0.99)
    ema.load_state_dict({"weight": torch.ones(2, 2), "bias": torch.zeros(2)})  # 0.1's layout
    assert torch.equal(ema.state["weight"], torch.ones(2, 2))
    assert min(ema.decay, (1 + ema.updates) / (10 + ema.updates)) == 0.99  # no ramp again
