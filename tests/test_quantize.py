"""int8: a trained model quantized by `dsconv quantize` keeps its top-1 on held-out data."""

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from dsconv.cli import main
from dsconv.deploy import quantize_int8, top1_agreement
from dsconv.train import TrainConfig, train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = train(TrainConfig(out=str(out), epochs=3, progress=False))
    assert summary["final"]["val_top1"] > 0.9  # a model worth quantizing
    return out / "model.safetensors"


@pytest.mark.slow
def test_int8_agrees_with_fp32_on_held_out_digits(trained, tmp_path, capsys):
    out = tmp_path / "int8.onnx"
    assert main(["quantize", str(trained), str(out), "--calib-images", "128", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 450  # the whole digits test split
    # Measured: >= 99% on the AVX2 machine; 98.67% (6 of 450, accuracy -0.44 points) on a
    # Xeon with AVX-512 but no VNNI (7-bit weights; 8-bit gave 96.7% there). The user-facing
    # bar is the accuracy: within one point of fp32.
    assert res["agreement"] >= 0.98, res
    assert abs(res["cand_top1"] - res["ref_top1"]) <= 0.01
    graph = onnx.load(out).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [i for i in graph.initializer if numpy_helper.to_array(i).dtype == np.int8]
    assert len(int8_weights) >= sum(n.op_type == "Conv" for n in graph.node)


def test_top1_agreement_counts_by_hand():
    ref = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    cand = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    batch = (torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 1, 1]))
    res = top1_agreement(lambda x: ref, lambda x: cand, [batch])
    assert (res["agreement"], res["disagreements"]) == (0.75, 1)
    assert (res["ref_top1"], res["cand_top1"]) == (0.75, 0.5)


def test_bad_calibration_is_refused(tmp_path):
    model = torch.nn.Conv2d(1, 2, 3)
    with pytest.raises(ValueError, match="calibration gave no batches"):
        quantize_int8(model, tmp_path / "q.onnx", [])
    with pytest.raises(ValueError, match="method="):
        quantize_int8(model, tmp_path / "q.onnx", [torch.randn(1, 1, 8, 8)], method="median")


@pytest.mark.slow
def test_int8_through_the_api_matches_fp32_on_digits(trained, tmp_path):
    # The library path, not the CLI: quantize_int8 on calibration batches, then agreement.
    from dsconv.data import digits
    from dsconv.deploy import onnx_session
    from dsconv.weights import load_model

    model, meta = load_model(trained)
    train_set, test_set = digits(meta.input_size[0])
    calib = [train_set.x[i:i + 64] for i in range(0, 256, 64)]
    path = quantize_int8(model, tmp_path / "api.onnx", calib)
    batches = [(test_set.x[i:i + 150], test_set.y[i:i + 150]) for i in range(0, 450, 150)]
    res = top1_agreement(model, onnx_session(path), batches)
    assert res["n"] == 450 and res["agreement"] >= 0.98, res  # see the test above


@pytest.mark.slow
def test_predict_takes_the_int8_file_and_agrees_with_fp32(trained, tmp_path, capsys):
    # The int8 file carries the model file's metadata (classes, preprocessing), as export's
    # does, so predict runs it alone; its top-1 on digit images matches the fp32 model's.
    from PIL import Image

    from dsconv.data import digits
    from dsconv.deploy import onnx_metadata
    from dsconv.train.inference import predict
    from dsconv.weights import read_meta

    out = tmp_path / "int8.onnx"
    assert main(["quantize", str(trained), str(out), "--calib-images", "64"]) == 0
    assert "% of 450 held-out images (digits test split;" in capsys.readouterr().out
    meta = read_meta(trained)
    carried = json.loads(onnx_metadata(out)["dsconv"])
    assert (carried["model"], carried["classes"], carried["preprocess"]) == (
        meta.model, meta.classes, meta.preprocess.to_dict())
    _, test = digits(meta.input_size[0])
    pngs = []
    for i in range(0, 450, 15):  # 30 test digits as 8-bit PNGs
        pixels = ((test.x[i, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        pngs.append(tmp_path / f"{i}.png")
        Image.fromarray(pixels, mode="L").save(pngs[-1])
    top1 = {w: [r["top"][0][0] for r in predict(w, pngs)] for w in (trained, out)}
    same = sum(a == b for a, b in zip(top1[trained], top1[out]))
    assert same >= 29, top1
    labels = [str(int(test.y[i])) for i in range(0, 450, 15)]
    assert sum(a == b for a, b in zip(top1[out], labels)) >= 27  # a working classifier


def _series_model_file(tmp_path, test_split: bool):
    """A random-weight xceptiontime model file for 2-channel series and its .npz data."""
    import dsconv
    from dsconv.data import load_series
    from dsconv.weights import save_model

    rng = np.random.default_rng(0)
    arrays = {"X": rng.normal(size=(24, 2, 32)), "y": np.repeat([0, 1, 2], 8)}
    if test_split:
        arrays.update(X_test=rng.normal(size=(9, 2, 32)), y_test=np.repeat([0, 1, 2], 3))
    spec = tmp_path / ("split.npz" if test_split else "whole.npz")
    np.savez(spec, **arrays)
    prep = load_series(str(spec))[2]
    pre = {"kind": "series", "input_size": [prep.length], "in_chans": 2, **prep.to_dict()}
    model = dsconv.create_model("xceptiontime", in_chans=2, num_classes=3, nf=4, kernels=(9, 5),
                                adaptive_size=8)  # small: the export's tracing dominates
    path = save_model(model, tmp_path / f"{spec.stem}.safetensors", "xceptiontime",
                      ["0", "1", "2"], pre, {"data": str(spec)})
    return path, spec


def test_quantize_series_says_series_and_predict_reads_the_int8_file(tmp_path, capsys):
    from dsconv.deploy import onnx_metadata
    from dsconv.weights import read_meta

    model, spec = _series_model_file(tmp_path, test_split=True)
    out = tmp_path / "new" / "q.onnx"  # the missing folder is created
    assert main(["quantize", str(model), str(out)]) == 0
    text = capsys.readouterr().out
    assert f"of 9 held-out series ({spec} (test split);" in text and "images" not in text, text
    assert json.loads(onnx_metadata(out)["dsconv"])["classes"] == read_meta(model).classes
    np.savez(tmp_path / "two.npz", X=np.random.default_rng(1).normal(size=(2, 2, 32)))
    assert main(["predict", "--weights", str(out), str(tmp_path / "two.npz")]) == 0
    assert capsys.readouterr().out.count("two.npz[") == 2


def test_data_without_a_test_split_is_not_called_held_out(tmp_path):
    # quantize compares on the 'eval' split; without a test split that is the training data.
    from dsconv.data import labelled_split
    from dsconv.deploy.quantize import _same_items
    from dsconv.weights import read_meta

    for test_split in (True, False):
        model, spec = _series_model_file(tmp_path, test_split)
        meta = read_meta(model)
        train, held = (labelled_split(meta.preprocess, meta.classes, str(spec), None, s)
                       for s in ("train", "eval"))
        assert _same_items(train, held) is not test_split


def test_predict_on_an_onnx_file_without_metadata_says_how_to_get_one(tmp_path):
    from dsconv.deploy import export_onnx
    from dsconv.train.inference import predict

    path = tmp_path / "new" / "bare.onnx"  # exported by the API without metadata, into a
    # folder that export creates
    export_onnx(torch.nn.Conv1d(2, 3, 1), path, (8,), check=False, dynamic_size=False)
    with pytest.raises(ValueError, match="no dsconv metadata in this ONNX file") as err:
        predict(path, [path])
    assert "dsconv export MODEL.safetensors" in str(err.value) and "safetensors file" not in \
        str(err.value)


def test_a_batchnorm_after_a_concatenation_is_quantized_per_channel(tmp_path, caplog):
    """LITE's first BatchNorm follows a concatenation, so no conv absorbs it: its 1-D scale
    is quantized along axis 0, once per channel (ONNX Runtime's default axis 1 made it warn
    'Axis 1 is out-of-range' and fall back to one scale for all channels)."""
    import dsconv
    from dsconv.deploy import export_onnx, quantize_onnx

    model = dsconv.create_model("lite", in_chans=1, num_classes=3).eval()
    export_onnx(model, tmp_path / "f.onnx", (48,))
    calib = [torch.randn(8, 1, 48) for _ in range(2)]
    with caplog.at_level("WARNING"):
        quantize_onnx(tmp_path / "f.onnx", tmp_path / "q.onnx", calib)
    assert "out-of-range" not in caplog.text
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    bns = [n for n in graph.node if n.op_type == "BatchNormalization"]
    assert bns, "the standalone BatchNorm was folded away: this test no longer tests it"
    for bn in bns:
        dq = next(n for n in graph.node if n.output[0] == bn.input[1])  # its scale's dequant
        channels = inits[dq.input[0]].shape[0]
        assert inits[dq.input[1]].shape == (channels,) and channels > 1
