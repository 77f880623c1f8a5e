"""Deployment: BN folding, compiled and ONNX-exported models equal eager; bench runs."""

import json

import onnx
import pytest
import torch
from torch import nn

import dsconv
from dsconv.deploy import export_onnx, fuse_bn, optimize
from dsconv.layers import DepthwiseConv2d, SeparableConv2d


def randomize_bn(model):
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.2, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


@pytest.mark.parametrize("name,kw,size", [
    ("xception", {"middle_repeats": 1}, 80),
    ("mobilenet_v1", {"alpha": 0.5}, 64),
    ("xception", {"middle_repeats": 1, "order": "pointwise_first"}, 72),
])
def test_fuse_bn_keeps_outputs(name, kw, size):
    model = randomize_bn(dsconv.create_model(name, **kw))
    fused = fuse_bn(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert (fused(x) - model(x)).abs().max() <= 1e-4
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # original untouched


def test_fuse_bn_with_bias_and_depth_multiplier():
    # The ncnn#1339 case: a depthwise conv that already has a bias, depth multiplier 2.
    model = randomize_bn(nn.Sequential(DepthwiseConv2d(4, 3, depth_multiplier=2, bias=True),
                                       nn.BatchNorm2d(8),
                                       SeparableConv2d(8, 6, 3, bias=True, mid_norm=nn.BatchNorm2d),
                                       nn.BatchNorm2d(6)))
    with torch.no_grad():
        model[0].bias.uniform_(-1, 1)
        model[2].pointwise.bias.uniform_(-1, 1)
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        assert (fuse_bn(model)(x) - model(x)).abs().max() <= 1e-5


@pytest.mark.slow
def test_onnx_export_matches_eager(tmp_path):
    pytest.importorskip("onnxruntime")
    for name, kw, size in [("xception_mini", {}, 33), ("mobilenet_v1", {"alpha": 0.25}, 96)]:
        model = randomize_bn(dsconv.create_model(name, **kw))
        res = export_onnx(model, tmp_path / f"{name}.onnx", size)
        assert res["max_abs_diff"] <= 1e-4, name
    # At a fixed size (what int8 and the benchmarks export), 'same' max-pools export as plain
    # MaxPool: no Pad node (one would break int8 chains). A dynamic size needs the Pad.
    mini = dsconv.create_model("xception_mini")
    export_onnx(mini, tmp_path / "fixed.onnx", 33, dynamic_size=False)
    ops = [n.op_type for n in onnx.load(tmp_path / "fixed.onnx").graph.node]
    assert "MaxPool" in ops and "Pad" not in ops


@pytest.mark.slow
def test_optimize_backends_match_eager():
    model = randomize_bn(dsconv.create_model("xception_mini"))
    x = torch.randn(3, 3, 24, 24)
    with torch.no_grad():
        ref = model(x)
    for backend in ("eager", "compile", "onnxruntime"):
        out = optimize(model, backend, 24)(x)
        assert (out - ref).abs().max() <= 1e-4, backend
    with pytest.raises(ValueError, match="backend='tvm'"):
        optimize(model, "tvm")


@pytest.mark.slow
def test_bench_cli_runs(capsys, tmp_path):
    from dsconv.cli import main

    png = tmp_path / "b.png"
    assert main(["bench", "xception_mini", "--size", "16", "--batch", "2,3", "--backend",
                 "eager,int8", "--reps", "2", "--train", "--json", "--png", str(png)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["batch"] for r in res["rows"]] == [2, 3] * 3
    assert [r["backend"] for r in res["rows"]][2:4] == ["int8", "int8"]
    assert res["roof_gflops"] > 0 and all(r["ms"] > 0 and r["roof_pct"] > 0 for r in res["rows"])
    # GFLOP/s is 2 * MACs * batch / time: check the arithmetic of one row.
    r = res["rows"][1]
    assert r["gflops"] == pytest.approx(2 * res["macs"] * 3 / (r["ms"] / 1e3) / 1e9, rel=1e-9)
    assert png.is_file()
    assert res["int8_roof_gops"] > 0  # int8 rows are put against the integer roof
    r = res["rows"][2]
    assert r["roof_pct"] == pytest.approx(100 * r["gflops"] / res["int8_roof_gops"], rel=1e-9)


def test_roof_is_the_fastest_matmul_library_not_torch_alone(monkeypatch):
    """On an AMD EPYC torch's matmul read 222 GFLOP/s while ONNX Runtime's convs ran at 398:
    the roof is the best of the libraries the paths run on, so no path exceeds it."""
    from dsconv.deploy import bench as b

    ort_rate = 2 * 256**3 / b._ort_matmul(256, 3) / 1e9
    monkeypatch.setattr(b, "_torch_matmul", lambda n, reps, int8=False: 1e3)  # a slow library
    assert b.matmul_roof(256, 3) >= 0.5 * ort_rate  # ONNX Runtime's probe carries the roof
    monkeypatch.setattr(b, "_ort_matmul", lambda n, reps, int8=False: 1e-3)  # 33 GFLOP/s
    assert b.matmul_roof(256, 3) == pytest.approx(2 * 256**3 / 1e-3 / 1e9)
    assert b.matmul_roof(256, 3, int8=True) == pytest.approx(2 * 256**3 / 1e-3 / 1e9)


def test_bench_against_keras_times_the_same_network():
    pytest.importorskip("keras")
    from dsconv.deploy.bench import bench

    model = dsconv.create_model("mobilenet_v1", alpha=0.25)
    res = bench(model, 32, [2], ["eager"], train=True, reps=2, against=["keras"])
    names = [r["backend"] for r in res["rows"]]
    assert names == ["eager", "train (channels_last)", "keras (torch backend)",
                     "train keras (torch backend)"]
    assert all(r["ms"] > 0 for r in res["rows"])
    # A configuration Keras does not ship is refused, not compared unfairly.
    with pytest.raises(ValueError, match="no counterpart"):
        bench(dsconv.create_model("xception_mini"), 32, [1], ["eager"], against=["keras"])


@pytest.mark.slow
def test_onnx_export_keeps_height_and_width_dynamic_where_it_can(tmp_path):
    from dsconv.deploy import onnx_session

    m = dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=3).eval()
    res = export_onnx(m, tmp_path / "m.onnx", 64)
    assert res["dynamic_size"] and res["max_abs_diff"] < 1e-4
    run = onnx_session(tmp_path / "m.onnx")
    x = torch.randn(2, 3, 71, 97)  # odd sizes: Keras's asymmetric padding at every stride 2
    with torch.no_grad():
        torch.testing.assert_close(run(x), m(x), rtol=1e-4, atol=1e-4)
    # Xception's residual adds after stride-2 'same' pools: sizes of both parities agree.
    x = dsconv.create_model("xception_mini", num_classes=3).eval()
    assert export_onnx(x, tmp_path / "x.onnx", 16)["dynamic_size"]
    run = onnx_session(tmp_path / "x.onnx")
    for size in ((17, 23), (32, 31)):
        xi = torch.randn(2, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(run(xi), x(xi), rtol=1e-4, atol=1e-4)


def test_keras_peer_takes_the_cli_size_tuple():
    # The CLI passes (H, W); Keras's own Xception / MobileNet take (H, W, C) of ints.
    pytest.importorskip("keras")
    from dsconv.deploy.keras_peer import bench_keras, keras_counterpart

    model = dsconv.create_model("mobilenet_v1", alpha=0.25)
    net, label = keras_counterpart(model, (32, 40))
    assert net.input_shape == (None, 32, 40, 3)
    [(name, batch, seconds)] = bench_keras(net, label, [1], reps=1)
    assert (name, batch) == ("keras (torch backend)", 1) and seconds > 0
    with pytest.raises(ValueError, match="Keras's MobileNetV1 refuses input 16x16"):
        keras_counterpart(model, (16, 16))  # below Keras's 32 px minimum: one clear line


def test_bench_help_shows_true_defaults(capsys):
    from dsconv.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "in the same run (default: none)" in text and "(default: )" not in text
    # A help that names its default in words is not followed by a second, literal one.
    assert "(default: the model's) (default: None)" not in text


def _no_work(*args, **kwargs):
    raise AssertionError("the command started its work before checking where it writes")


def test_bad_output_locations_fail_before_any_work(tmp_path, capsys, monkeypatch):
    # A missing folder is created (tests/test_quantize.py and test_keras_interop.py write
    # into new folders); one that cannot be made fails at once, not after the export.
    import dsconv.cli.deploy as cli_deploy
    from dsconv.cli import build_parser, main
    from dsconv.weights import save_model

    build_parser()  # imports every command module now, so none binds the patched load_model

    weights = save_model(dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=3),
                         tmp_path / "m.safetensors", "mobilenet_v1", ["a", "b", "c"])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(cli_deploy, "export_onnx", _no_work)
    monkeypatch.setattr(cli_deploy, "model_from_args", _no_work)
    monkeypatch.setattr("dsconv.weights.load_model", _no_work)  # quantize loads it lazily
    for cmd in (["export", str(weights)], ["quantize", str(weights)],
                ["bench", "xception_mini", "--png"]):
        assert main([*cmd, str(blocker / "sub" / "out")]) == 2, cmd
        assert f"cannot write {blocker / 'sub' / 'out'}: {blocker} is a file, not a folder" \
            in capsys.readouterr().err
    assert main(["export", str(weights), str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "m.safetensors"]
