"""The 1-D family through the same commands as images: train on aeon's data, evaluate,
predict series files, export to ONNX, quantize; bad combinations are one-line errors."""

import json
import re

import numpy as np
import pytest
import torch

import dsconv
from dsconv.blocks import ACTIVATIONS
from dsconv.cli import main
from dsconv.cost import profile
from dsconv.deploy import export_onnx, onnx_session, optimize
from dsconv.layers import SeparableConv
from dsconv.weights import read_meta

pytest.importorskip("aeon")
SERIES_MODELS = [n for n in dsconv.list_models(ensembles=False)
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


def test_lite_trains_and_evaluates_through_the_cli(tmp_path, capsys):
    run = tmp_path / "lite"
    rc, out, err = cli(capsys, "train", "--data", "aeon:BasicMotions", "--model", "lite",
                       "--epochs", "1", "--out", run, "--quiet")
    assert rc == 0, err
    meta = read_meta(run / "model.safetensors")
    assert meta.model == "lite" and meta.config["in_chans"] == 6 and len(meta.classes) == 4
    rc, out, err = cli(capsys, "evaluate", "--weights", run / "model.safetensors", "--json")
    assert rc == 0 and json.loads(out)["n"] == 40, err


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
                                dict(mid_act="relu", segments=4)]
                         + [dict(mid_act=a) for a in sorted(ACTIVATIONS) if a not in ("elu",)])
def test_xceptiontime_takes_the_style_options_by_name(kw):
    """The multi-kernel module builds its convs through ConvStyle, so a named mid_act works
    (it raised "mid_act='elu': expected a module" before) and reaches every branch conv."""
    model = dsconv.create_model("xceptiontime", in_chans=3, num_classes=2, **kw)
    model(torch.randn(2, 3, 40)).sum().backward()
    branch = model.blocks[0].body[0].convs[0]
    if "mid_act" in kw:  # every activation the style accepts (issue 20)
        want = type(ACTIVATIONS[kw["mid_act"]]())
        assert isinstance(branch.mid_act, want)
    if "order" in kw:
        assert branch.order == "pointwise_first"


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_lite_has_the_papers_9814_parameters():
    """The paper's 9,814 trainable parameters are LITE on a univariate series (the authors'
    code reshapes every input to (L, 1)) without its classifier: multiplexing convs 2,240, BN
    226, separable convs 5,876 + 1,344, BNs 64 + 64. No class count gives 9,814 with the
    classifier, which adds 33 per class (a Dense of 32 inputs + bias): 9,880 for two."""
    info = dsconv.model_info("lite")
    assert info.expected == dict(params=9_814, count_args=dict(in_chans=1, num_classes=0))
    assert n_params(dsconv.create_model("lite", in_chans=1, num_classes=0)) == 9_814
    model = dsconv.create_model("lite", in_chans=1, num_classes=2)
    prof = profile(model, (128,))
    # Keras's model.summary() of the authors' model: 9,880 trainable, 792 non-trainable (the
    # 438 taps of the 17 fixed filters + 354 BN moving statistics).
    assert (prof.trainable_params, prof.non_trainable_params) == (9_880, 792)
    twin = dsconv.model_info("lite_standard").expected
    assert n_params(dsconv.create_model("lite_standard", **twin["count_args"])) == \
        twin["params"] == 2_240 + 226 + 113 * 32 * 20 + 64 + 32 * 32 * 10 + 64


def test_lite_twin_differs_only_in_the_separable_convs():
    sep, std = (dsconv.create_model(n, in_chans=2, num_classes=3) for n in ("lite",
                                                                           "lite_standard"))
    seps = [n for n, m in sep.named_modules() if isinstance(m, SeparableConv)]
    assert seps == ["blocks.dwsc1.conv", "blocks.dwsc2.conv"]
    assert not any(isinstance(m, SeparableConv) for m in std.modules())
    for name in seps:  # the twin's conv: same channels, kernel and dilation, one regular conv
        a, b = sep.get_submodule(name), std.get_submodule(name)
        assert (b.in_channels, b.out_channels, b.kernel_size, b.dilation, b.groups) == (
            a.in_channels, a.out_channels, a.depthwise.kernel_size, a.depthwise.dilation, 1)
    rest = {k: v.shape for k, v in sep.state_dict().items() if ".conv." not in k}
    assert rest == {k: v.shape for k, v in std.state_dict().items() if ".conv." not in k}
    assert [c.kernel_size[0] for c in sep.blocks.multiplex.convs] == [40, 20, 10]
    assert [(k, d) for k, d in sep.cfg.separable_layers()] == [(20, 2), (10, 4)]


def test_lite_fixed_filters_stay_fixed_through_training_and_a_model_file(tmp_path):
    from dsconv.train.optim import set_base_frozen
    from dsconv.weights import load_model, save_model

    model = dsconv.create_model("lite", in_chans=2, num_classes=3)
    fixed = {k: v.clone() for k, v in model.state_dict().items() if ".fixed." in k}
    assert len(fixed) == 17 and not any(".fixed." in n for n, _ in model.named_parameters())
    set_base_frozen(model, frozen=False, bn_eval=False)  # "unfreeze all" cannot reach them
    opt = torch.optim.AdamW(model.parameters(), 1e-2)
    x, y = torch.randn(8, 2, 50), torch.randint(0, 3, (8,))
    for _ in range(2):
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in fixed.items())
    save_model(model, tmp_path / "lite.safetensors", "lite")
    back, meta = load_model(tmp_path / "lite.safetensors")  # the config's tuple via JSON
    assert back.cfg == model.cfg
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(x), model.eval()(x))


@pytest.mark.parametrize("kw,words", [
    (dict(kernel_size=2), "kernel_size=2 with depth=2: the kernels would be (2, 1, 0, 1, 0); "
                          "raise kernel_size to at least 4"),
    (dict(depth=0), "depth=0: LITE needs at least one separable conv"),
    (dict(custom_filter_lengths=(2, 6)), "peak filter length 6: must be a positive multiple"),
])
def test_lite_bad_options_are_one_line_errors(kw, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        dsconv.create_model("lite", **kw)


def test_litetime_is_five_lite_networks_averaged():
    """litetime (the paper's LITETime) = 5 x lite: five times the parameters of one, and its
    probabilities the mean of its members'."""
    from dsconv.models import Ensemble, create_model

    torch.manual_seed(0)
    ens = create_model("litetime", in_chans=2, num_classes=3).eval()
    one = create_model("lite", in_chans=2, num_classes=3)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert isinstance(ens, Ensemble) and len(ens.members) == 5
    # (a second channel adds 32 filters x (40 + 20 + 10) taps to the multiplexing convs)
    assert count(ens) == 5 * count(one) == 5 * (9_814 + 32 * (40 + 20 + 10) + 33 * 3)
    x = torch.randn(4, 2, 64)
    with torch.no_grad():
        mean = torch.stack([m(x).softmax(-1) for m in ens.members]).mean(0)
        assert torch.allclose(ens(x).softmax(-1), mean, atol=1e-6)


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
