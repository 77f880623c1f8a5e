"""The 1-D family through the same commands as images: train on aeon's data, evaluate,
predict series files, export to ONNX, quantize; bad combinations are one-line errors."""

import json

import numpy as np
import pytest
import torch

import dsconv
from dsconv.cli import main
from dsconv.deploy import export_onnx, onnx_session, optimize
from dsconv.weights import read_meta

pytest.importorskip("aeon")
SERIES_MODELS = [n for n in dsconv.list_models()
                 if dsconv.model_info(n).dims == 1 and not dsconv.model_info(n).tokens]


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.slow
def test_basicmotions_train_evaluate_predict_export_quantize(tmp_path, capsys):
    run = tmp_path / "bm"
    rc, out, err = cli(capsys, "train", "--data", "aeon:BasicMotions", "--epochs", "30",
                       "--out", run, "--quiet")
    assert rc == 0, err
    meta = read_meta(run / "model.safetensors")
    assert meta.model == "xceptiontime" and meta.preprocess.kind == "series"
    assert meta.config["in_chans"] == 6 and len(meta.classes) == 4
    rc, out, err = cli(capsys, "evaluate", "--weights", run / "model.safetensors", "--json")
    m = json.loads(out)
    assert rc == 0 and m["n"] == 40 and m["top1"] >= 0.9, (err, m["top1"])
    x = np.random.default_rng(0).normal(size=(2, 6, 100))
    np.savez(tmp_path / "two.npz", X=x)
    rc, out, err = cli(capsys, "predict", "--weights", run / "model.safetensors",
                       tmp_path / "two.npz")
    assert rc == 0 and out.count("two.npz[") == 2, err
    rc, out, err = cli(capsys, "export", run / "model.safetensors", tmp_path / "bm.onnx")
    assert rc == 0, err
    rc, out, err = cli(capsys, "predict", "--weights", tmp_path / "bm.onnx", tmp_path / "two.npz")
    assert rc == 0 and out.count("two.npz[") == 2, err
    rc, out, err = cli(capsys, "quantize", run / "model.safetensors", tmp_path / "q.onnx",
                       "--json")
    assert rc == 0 and json.loads(out)["agreement"] >= 0.9, err


@pytest.mark.parametrize("name", SERIES_MODELS)
def test_every_1d_model_trains_and_exports_like_eager(name, tmp_path):
    kw = {"middle_repeats": 1} if name == "xception1d" else {}
    model = dsconv.create_model(name, in_chans=4, num_classes=3, **kw)
    x, y = torch.randn(8, 4, 64), torch.randint(0, 3, (8,))
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.isfinite(loss)
    model.eval()
    res = export_onnx(model, tmp_path / "m.onnx", (64,))
    assert res["max_abs_diff"] < 1e-4 and res["dynamic_size"]
    run = onnx_session(tmp_path / "m.onnx")
    with torch.no_grad():
        torch.testing.assert_close(run(x), model(x), rtol=1e-4, atol=1e-4)
        for length in (37, 101, 150):  # dynamic: odd and even, shorter, up to over twice as long
            xi = torch.randn(2, 4, length)
            torch.testing.assert_close(run(xi), model(xi), rtol=1e-4, atol=1e-4)
        # The eager inference path (BN folded; channels_last is for images only).
        torch.testing.assert_close(optimize(model, "eager")(x), model(x), rtol=1e-4, atol=1e-4)


def test_summary_takes_channels_by_length(capsys):
    rc, out, err = cli(capsys, "summary", "xceptiontime", "--input", "6x100", "--json")
    assert rc == 0, err
    assert json.loads(out)["input_shape"] == [6, 100]


def test_image_model_on_series_data_is_a_clear_error(tmp_path, capsys):
    rc, out, err = cli(capsys, "train", "--data", "aeon:GunPoint", "--model", "xception_mini",
                       "--out", tmp_path / "x")
    assert rc == 2 and "takes image data" in err and "is series data" in err
    rc, out, err = cli(capsys, "train", "--data", "aeon:GunPiont", "--out", tmp_path / "y")
    assert rc == 2 and "GunPoint" in err  # the names aeon ships, with the close match


@pytest.mark.parametrize("kw", [dict(mid_act="elu"), dict(order="pointwise_first"),
                                dict(mid_act="relu", segments=4)])
def test_xceptiontime_takes_the_style_options_by_name(kw):
    """The multi-kernel module builds its convs through ConvStyle, so a named mid_act works
    (it raised "mid_act='elu': expected a module" before) and reaches every branch conv."""
    model = dsconv.create_model("xceptiontime", in_chans=3, num_classes=2, **kw)
    model(torch.randn(2, 3, 40)).sum().backward()
    branch = model.blocks[0].body[0].convs[0]
    if "mid_act" in kw:
        want = {"elu": torch.nn.ELU, "relu": torch.nn.ReLU}[kw["mid_act"]]
        assert any(isinstance(m, want) for m in branch.modules())
    if "order" in kw:
        assert branch.order == "pointwise_first"


def _branch_grads(module, x, fuse):
    """Output and gradients (input, every parameter) of a multi-kernel module."""
    from dsconv.layers import separable as S

    module.zero_grad()
    x = x.clone().requires_grad_()
    S.FUSE_BRANCHES = fuse
    try:
        assert S.fuses_separable_branches(module.bottleneck(x), module.convs) == fuse
        y = module(x)
    finally:
        S.FUSE_BRANCHES = True
    y.backward(torch.randn(y.shape, generator=torch.Generator().manual_seed(1)))
    return [y.detach(), x.grad] + [p.grad.clone() for p in module.parameters()]


@pytest.mark.skipif(dsconv.layers.depthwise1d._numba is None, reason="numba not installed")
def test_fused_multi_kernel_branches_equal_the_branches_one_by_one(monkeypatch):
    """XceptionTime's branches fused (one depthwise pass for all kernels, the 1x1s as one batched
    matmul) equal the branch modules run one by one: values and every gradient, over batch,
    channels and lengths (shorter than the kernels too), with the same state_dict."""
    from dsconv.blocks import ConvStyle
    from dsconv.blocks.inception import MultiKernelModule

    monkeypatch.setattr(dsconv.layers.depthwise1d, "MIN_NUMBA_MACS", 0)
    rng = np.random.default_rng(0)
    style = ConvStyle(dims=1, bn_eps=1e-5, bn_momentum=0.1)
    for _ in range(6):
        n, c, nf, length = (int(v) for v in (rng.integers(1, 5), rng.integers(1, 9),
                                             rng.integers(1, 9), rng.integers(1, 60)))
        kernels = (39, 19, 9) if length % 2 else (7, 4, 1)  # an even kernel: asymmetric 'same'
        torch.manual_seed(length)
        module = MultiKernelModule(c, nf, kernels, style, bottleneck=c > 1)
        x = torch.randn(n, c, length)
        fused, plain = _branch_grads(module, x, True), _branch_grads(module, x, False)
        for a, b in zip(fused, plain):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    names = [k for k, _ in module.state_dict().items()]
    assert names[:3] == ["bottleneck.weight", "convs.0.depthwise.weight",
                         "convs.0.pointwise.weight"] and len(names) == 8


@pytest.mark.skipif(dsconv.layers.depthwise1d._numba is None, reason="numba not installed")
def test_fused_branches_step_aside_for_hooks_and_other_styles():
    """The fused path calls no branch module: a forward hook (the cost profiler's) must still
    see them run, and styles it does not compute (a mid activation) keep the modules."""
    from dsconv.cost import profile
    from dsconv.layers.separable import fuses_separable_branches

    model = dsconv.create_model("xceptiontime", in_chans=3, num_classes=2)
    module = model.blocks[0].body[0]
    x = torch.randn(8, 3, 256)
    assert fuses_separable_branches(module.bottleneck(x), module.convs)
    kinds = {r.name: r.type for r in profile(model, (256,)).rows}  # one sample: fusable too
    assert kinds["blocks.stage1.body.0.convs.2.depthwise"] == "depthwise"
    assert kinds["blocks.stage1.body.0.convs.2.pointwise"] == "pointwise"
    elu = dsconv.create_model("xceptiontime", in_chans=3, num_classes=2, mid_act="elu")
    module = elu.blocks[0].body[0]
    assert not fuses_separable_branches(module.bottleneck(x), module.convs)
