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
    assert res["agreement"] >= 0.99, res
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
    assert res["n"] == 450 and res["agreement"] >= 0.99, res
