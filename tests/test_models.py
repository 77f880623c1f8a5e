"""Models: the papers' figures, Keras's options, and a sweep over every registered model."""

import dataclasses
import functools
import re
from pathlib import Path

import pytest
import torch

import dsconv
from dsconv.blocks import ClassifierHead, ConvStyle
from dsconv.cost import profile
from dsconv.layers import SEPARABLE
from dsconv.models import model_info

# Image and series classifiers; the translation models (token ids in) have their own tests in
# test_translation_models.py and join only the style sweep below.
# (a registered ensemble, litetime, is its members: test_ensemble.py and test_series_models.py)
CLASSIFIERS = [n for n in dsconv.list_models(ensembles=False) if not model_info(n).tokens]


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def n_bn_stats(model):
    return sum(b.numel() for n, b in model.named_buffers()
               if n.endswith(("running_mean", "running_var")))


@pytest.fixture(scope="module")
def xception():
    return dsconv.create_model("xception").eval()


def test_xception_parameter_counts(xception):
    # Xception paper, Table 3: 22,855,952 trainable; Keras: 54,528 non-trainable.
    assert n_params(xception) == 22_855_952
    assert n_bn_stats(xception) == 54_528
    meta = model_info("xception").expected
    assert (meta["params"], meta["bn_stats"]) == (22_855_952, 54_528)


def test_xception_without_top_has_keras_count():
    assert n_params(dsconv.create_model("xception", include_top=False)) == 20_806_952


@pytest.mark.parametrize("size", [(299, 299), (71, 71), (96, 130)])
def test_xception_output_shapes(xception, size):
    with torch.no_grad():
        assert xception(torch.randn(1, 3, *size)).shape == (1, 1000)


def test_xception_too_small_input(xception):
    with pytest.raises(ValueError, match="at least 71x71"):
        xception(torch.randn(1, 3, 70, 70))
    with pytest.raises(ValueError, match="3 input channels"):
        xception(torch.randn(1, 299, 299, 3))


def test_xception_spatial_sizes_follow_keras(xception):
    # 299 -> 149 -> 147 (stem, 'valid') -> 74 -> 37 -> 19 (entry) -> 10 (exit).
    m = dsconv.create_model("xception", features_only=True).eval()
    with torch.no_grad():
        feats = m(torch.randn(1, 3, 299, 299))
    assert [f.shape[1:] for f in feats] == [(64, 147, 147), (128, 74, 74), (256, 37, 37),
                                            (728, 19, 19), (2048, 10, 10)]
    assert [i["reduction"] for i in m.feature_info] == [2, 4, 8, 16, 32]
    assert [i["num_chs"] for i in m.feature_info] == [f.shape[1] for f in feats]


def test_xception_head_options():
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        assert dsconv.create_model("xception", include_top=False, global_pool=None,
                                   middle_repeats=1).eval()(x).shape == (2, 2048, 3, 3)
        m = dsconv.create_model("xception", include_top=False, global_pool="max",
                                 middle_repeats=1).eval()
        assert m(x).shape == (2, 2048)
        m = dsconv.create_model("xception", num_classes=7, fc_layers=(64, 32), drop_rate=0.5,
                                 middle_repeats=1).eval()
        assert m(x).shape == (2, 7)
        assert m.forward_head(m.forward_features(x), pre_logits=True).shape == (2, 32)


def test_xception_ablation_switches():
    base = dsconv.create_model("xception", middle_repeats=2)
    no_res = dsconv.create_model("xception", middle_repeats=2, residual=False)
    # Without residuals the four 1x1 shortcut convs and their BNs disappear.
    shortcut = (64 * 128 + 128 * 256 + 256 * 728 + 728 * 1024) + 2 * (128 + 256 + 728 + 1024)
    assert n_params(base) - n_params(no_res) == shortcut
    elu = dsconv.create_model("xception", middle_repeats=1, mid_act="elu")
    assert isinstance(elu.blocks.block5.body.sepconv1.mid_act, torch.nn.ELU)
    # pointwise-first really runs the 1x1 first: record the call order of the two steps.
    pw = dsconv.create_model("xception", middle_repeats=1, order="pointwise_first").eval()
    sep = pw.blocks.block3.body.sepconv1  # 128 -> 256: the two orders differ in shapes too
    calls = []
    for name in ("pointwise", "depthwise"):
        getattr(sep, name).register_forward_hook(
            lambda m, i, o, name=name: calls.append((name, i[0].shape[1], o.shape[1])))
    with torch.no_grad():
        pw(torch.randn(1, 3, 71, 71))
    assert calls == [("pointwise", 128, 256), ("depthwise", 256, 256)]


def test_standard_twin_replaces_every_separable_conv():
    twin = dsconv.create_model("xception_standard")
    kinds = {type(m).__name__ for m in twin.modules()}
    assert "SeparableConv2d" not in kinds
    conv = twin.blocks.block5.body.sepconv1
    assert conv.weight.shape == (728, 728, 3, 3)


def test_mobilenet_v1_counts_match_paper():
    m = dsconv.create_model("mobilenet_v1")
    assert n_params(m) == 4_231_976 and n_bn_stats(m) == 21_888
    # 569 M multiply-adds (paper, Table 1/8): convolutions + the FC layer, per image.
    macs = profile(m, 224).macs
    assert abs(macs / 569e6 - 1) < 0.01


@pytest.mark.parametrize("alpha,paper", [(0.75, 325e6), (0.5, 149e6), (0.25, 41e6)])
def test_mobilenet_width_multiplier(alpha, paper):
    macs = profile(dsconv.create_model("mobilenet_v1", alpha=alpha), 224).macs
    assert abs(macs / paper - 1) < 0.03


def test_mobilenet_standard_twin_matches_table4():
    m = dsconv.create_model("mobilenet_v1_standard")
    # Paper, Table 4: 29.3 M parameters, 4866 M multiply-adds.
    assert abs(n_params(m) / 29.3e6 - 1) < 0.01
    assert abs(profile(m, 224).macs / 4866e6 - 1) < 0.01


def test_mobilenet_any_resolution_and_minimum():
    m = dsconv.create_model("mobilenet_v1", alpha=0.25).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 160, 128)).shape == (1, 1000)
        assert m(torch.randn(1, 3, 33, 35)).shape == (1, 1000)
    with pytest.raises(ValueError, match="at least 32x32"):
        m(torch.randn(1, 3, 31, 64))


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="xception_mini") as err:
        dsconv.create_model("xceptoin")
    assert "Did you mean 'xception'" in str(err.value)


def small_input(name, batch=2, extra=3):
    """A small valid input for `name`: (batch, C, S, S + extra) images or (batch, C, L) series,
    C the model's default in_chans (3 for most; 1 for LITE, univariate as in its paper)."""
    cfg = dsconv.create_model(name).cfg
    size = max(cfg.min_input_size, 32)
    if getattr(cfg, "dims", 2) == 1:
        return torch.randn(batch, cfg.in_chans, 4 * size + extra)
    return torch.randn(batch, cfg.in_chans, size, size + extra)


def light(name):
    """Keep the big ones light: one middle block for Xception's full-size variants."""
    big = name.startswith("xception") and name not in ("xception_mini",) and \
        "time" not in name
    return {"middle_repeats": 1} if big else {}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_model_forward_backward(name):
    model = dsconv.create_model(name, num_classes=5, **light(name))
    out = model(small_input(name))
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reached {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_model_features_only(name):
    model = dsconv.create_model(name, features_only=True, **light(name)).eval()
    x = small_input(name, batch=1, extra=0)
    size = x.shape[-1]
    with torch.no_grad():
        feats = model(x)
    assert len(feats) == len(model.feature_info) >= 2
    for f, info in zip(feats, model.feature_info):
        assert f.shape[1] == info["num_chs"]
        assert abs(f.shape[-1] - size / info["reduction"]) <= 3


@pytest.mark.parametrize("name", [n for n in dsconv.list_models()
                                  if "tsai_args" in dsconv.model_info(n).expected])
def test_parameter_counts_equal_tsai(name):
    # tsai's XceptionTime(3, 2): 399,540; InceptionTime(3, 2): 455,490 (their public source).
    info = dsconv.model_info(name)
    assert n_params(dsconv.create_model(name, **info.expected["tsai_args"])) == \
        info.expected["params"]


def test_xceptiontime_is_a_quarter_of_its_twin():
    sep = n_params(dsconv.create_model("xceptiontime", in_chans=6, num_classes=4))
    std = n_params(dsconv.create_model("xceptiontime_standard", in_chans=6, num_classes=4))
    assert sep <= std / 4


def test_xception_mini_is_small():
    n = n_params(dsconv.create_model("xception_mini"))
    assert 100_000 < n < 1_000_000


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_every_model_num_classes_is_its_output_count(name):
    model = dsconv.create_model(name, num_classes=5, **light(name)).eval()
    x = small_input(name, batch=1)
    assert model.num_classes == 5
    with torch.no_grad():
        assert model(x).shape == (1, model.num_classes)
        model.reset_classifier(0)  # timm's convention: no classifier, pooled features
        assert model.num_classes == 0
        assert model(x).shape == (1, model.head.num_features)
    model.reset_classifier(3)
    assert model.num_classes == 3
    assert dsconv.create_model(name, **light(name)).num_classes == \
        dsconv.create_model(name, **light(name)).cfg.num_classes > 0
    assert dsconv.create_model(name, num_classes=0, **light(name)).num_classes == 0
    assert dsconv.create_model(name, features_only=True, **light(name)).num_classes == 0
    if isinstance(model.head, ClassifierHead):  # Keras's include_top=False: no classifier
        assert dsconv.create_model(name, include_top=False, **light(name)).num_classes == 0


# The registry sweep: every model x every convolution-style option, at tiny widths.
XCEPTION_TINY = dict(stem_widths=(8, 16), entry_widths=(16, 16, 16), middle_width=16,
                     middle_repeats=1, exit_widths=(16, 24), head_widths=(24, 32))
LITE_TINY = dict(n_filters=4, kernel_size=8, custom_filter_lengths=(4, 8, 16))
TINY = {"xception": XCEPTION_TINY, "xception_standard": XCEPTION_TINY,
        "xception_mini": XCEPTION_TINY, "xception1d": XCEPTION_TINY,
        "mobilenet_v1": dict(alpha=0.125), "mobilenet_v1_standard": dict(alpha=0.125),
        "xceptiontime": dict(nf=4), "xceptiontime_standard": dict(nf=4),
        "inceptiontime": dict(nf=4),
        # 8 fixed filters (lengths 4, 8, 16) + 3 x 4 filters: even widths, so segments=2 fits.
        "lite": LITE_TINY, "lite_standard": LITE_TINY}
TOKENS_TINY = dict(vocab_size=50, hidden=16, enc_layers=1, dec_layers=1)
TINY.update({n: TOKENS_TINY for n in dsconv.list_models() if model_info(n).tokens})
STYLE_OPTIONS = {"conv_mode": ("separable", "standard"), "mid_act": ("relu", "elu"),
                 "order": ("depthwise_first", "pointwise_first"), "segments": (1, 2)}
SEPARABLE_TYPES = tuple(SEPARABLE.values())


def tiny_model(name, **kw):
    """`name` at the widths of TINY (a new model needs an entry there), 3 classes (classifiers;
    a translation model's tiny vocabulary is in TINY)."""
    if name not in TINY:
        pytest.fail(f"add tiny widths for {name!r} to TINY so the style sweep covers it")
    classes = {} if model_info(name).tokens else {"num_classes": 3}
    return dsconv.create_model(name, **classes, **TINY[name], **kw)


@functools.cache
def tiny_config(name):
    """The config of `name` at TINY's widths (built once: the sweep asks per option)."""
    return tiny_model(name).cfg


def check_style_reached_the_convs(model, option, value):
    """The option shows in the built layers, not just in the config."""
    seps = [m for m in model.modules() if isinstance(m, SEPARABLE_TYPES)]
    if option == "conv_mode":
        assert bool(seps) == (value == "separable")
        return
    assert seps, "the separable convs are missing"
    if option == "mid_act":
        want = {"relu": torch.nn.ReLU, "elu": torch.nn.ELU}[value]
        assert all(isinstance(s.mid_act, want) for s in seps)
    else:  # order, segments: attributes of the separable layer
        assert all(getattr(s, option) == value for s in seps)


@pytest.mark.parametrize("option", list(STYLE_OPTIONS))
@pytest.mark.parametrize("name", dsconv.list_models(ensembles=False))
def test_every_model_takes_or_refuses_every_style_option(name, option):
    """Forward + backward for each value of a style option the model's config has; a clear
    ValueError naming the option where it has none (MobileNet fixes order and mid_act)."""
    cfg = tiny_config(name)
    if option not in {f.name for f in dataclasses.fields(cfg)}:
        for value in STYLE_OPTIONS[option]:
            with pytest.raises(ValueError, match=rf"unknown option\(s\) {option} for "
                                                 rf"{type(cfg).__name__}; known: "):
                tiny_model(name, **{option: value})
        return
    dims = getattr(cfg, "dims", 2)
    size = max(cfg.min_input_size, 16) if dims == 1 else cfg.min_input_size
    x = torch.randn(2, cfg.in_chans, *[size] * dims)
    for value in STYLE_OPTIONS[option]:
        # The separable-only options need the separable mode to have an effect.
        kw = {option: value} if option == "conv_mode" else {option: value,
                                                            "conv_mode": "separable"}
        model = tiny_model(name, **kw)
        check_style_reached_the_convs(model, option, value)
        out = model(x)
        assert out.shape == (2, 3)
        out.logsumexp(1).sum().backward()
        params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        missing = [n for n, p in params if p.grad is None]
        assert not missing, f"{kw}: no gradient reached {missing[:5]}"
        assert all(torch.isfinite(p.grad).all() for _, p in params), kw


def test_style_refuses_a_misspelt_order_even_for_the_standard_twin():
    # The twin builds no separable conv, so the layer's own check never ran: silently accepted.
    with pytest.raises(ValueError, match=r"order='pointwise-first': expected one of"):
        dsconv.create_model("xception_standard", order="pointwise-first")
    with pytest.raises(ValueError, match=r"dims=4: expected 1, 2 or 3"):
        ConvStyle(dims=4)


@pytest.mark.parametrize("name, option", [
    ("xception_standard", dict(mid_act="relu")), ("xceptiontime_standard", dict(segments=4)),
    ("lite_standard", dict(order="pointwise_first")), ("xception", dict(
        conv_mode="standard", mid_act="elu", segments=2))])
def test_the_standard_twin_refuses_options_it_would_ignore(name, option):
    # A regular conv has no middle, no segments, no step order: the option did nothing.
    moot = ", ".join(f"{k}={v!r}" for k, v in option.items() if k != "conv_mode")
    with pytest.raises(ValueError, match=rf"conv_mode='standard' builds regular convolutions, "
                                         rf"which have no {re.escape(moot)}: drop it"):
        dsconv.create_model(name, **option)
    assert dsconv.models.MobileNetV1Config(conv_mode="standard").style().mid_act is None


def test_conv_style_from_config_picks_fields_by_name():
    cfg = dsconv.models.XceptionTimeConfig(mid_act="elu", segments=2, order="pointwise_first")
    assert ConvStyle.from_config(cfg) == ConvStyle(
        dims=1, conv_mode="separable", order="pointwise_first", mid_act="elu", act_layer="relu",
        norm_layer="batchnorm", bn_eps=1e-5, bn_momentum=0.1, segments=2)
    mobile = dsconv.models.MobileNetV1Config().style()
    assert (mobile.dims, mobile.mid_act, mobile.order) == (2, "relu6", "depthwise_first")
    with pytest.raises(ValueError, match="has field.* act_layer: take them from the config"):
        ConvStyle.from_config(dsconv.models.MobileNetV1Config(), act_layer="elu")


def test_only_conv_style_builds_convolutions():
    """Blocks and models get every conv from ConvStyle (conv, pointwise, sep_conv), so a style
    option can never miss a layer."""
    src = Path(dsconv.__file__).parent
    pattern = re.compile(r"\b(Conv[123]d|(Separable|Depthwise|Pointwise)Conv[123]d|nn\.Conv"
                         r"|(CONV|SEPARABLE|POINTWISE|DEPTHWISE)\[)")
    found = [f"{p.relative_to(src)}:{i}: {line.strip()}"
             for part in ("blocks", "models") for p in sorted((src / part).glob("*.py"))
             if p != src / "blocks" / "conv.py"
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if pattern.search(line) and not line.lstrip().startswith(("#", "`"))
             and "`" not in line]
    assert not found, "convolutions built outside ConvStyle:\n" + "\n".join(found)
