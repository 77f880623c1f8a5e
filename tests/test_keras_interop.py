"""Keras weights in and out, verified against Keras 3 itself (KERAS_BACKEND=torch, no network)."""

import numpy as np
import pytest
import torch

keras_ref = pytest.importorskip("keras_ref")
keras = keras_ref.keras

import dsconv  # noqa: E402
from dsconv.weights import (  # noqa: E402  # noqa: E402
    WeightFileError,
    export_keras_weights,
    load_keras_weights,
    load_weights,
    save_weights,
)

TOL = 1e-4


def assert_matches_keras(model, cases):
    """model's logits equal each Keras model's on a random (2, 3, *size) batch, within TOL."""
    for ref_model, size in cases:
        x = torch.rand(2, 3, *size) * 2 - 1
        with torch.no_grad():
            ours = model(x).numpy()
        ref = keras_ref.keras_forward(ref_model, x)
        assert np.abs(ours - ref).max() <= TOL * max(1.0, np.abs(ref).max()), size


@pytest.fixture(scope="module")
def keras_xception(tmp_path_factory):
    """Random-weight Keras Xception, saved as legacy .h5, Keras 3 .weights.h5 and .keras."""
    m = keras.applications.Xception(weights=None, classifier_activation=None)
    keras_ref.randomize(m, seed=1)
    d = tmp_path_factory.mktemp("xception")
    m.save_weights(d / "x.weights.h5")
    m.save(d / "x.keras")
    import h5py
    import keras.src.legacy.saving.legacy_h5_format as legacy
    with h5py.File(d / "x.h5", "w") as f:
        legacy.save_weights_to_hdf5_group(f, m)
    return m, d


@pytest.mark.parametrize("fmt", ["x.h5", "x.weights.h5", "x.keras"])
def test_xception_logits_match_keras(keras_xception, fmt):
    km, d = keras_xception
    model = dsconv.create_model("xception", weights=d / fmt).eval()
    # Keras's top-included Xception takes a static input shape: a second Keras model, same
    # weights, checks a non-square input.
    odd = keras.applications.Xception(weights=None, classifier_activation=None,
                                      input_shape=(131, 200, 3))
    keras_ref.copy_weights(km, odd)
    assert_matches_keras(model, [(km, (299, 299)), (odd, (131, 200))])


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_xception_notop_pooling_matches_keras(keras_xception, tmp_path, pooling):
    km, _ = keras_xception
    notop = keras.applications.Xception(weights=None, include_top=False, pooling=pooling)
    keras_ref.copy_weights(km, notop)
    notop.save_weights(tmp_path / "notop.weights.h5")
    model = dsconv.create_model("xception", include_top=False, global_pool=pooling,
                                weights=tmp_path / "notop.weights.h5").eval()
    x = torch.rand(1, 3, 150, 150) * 2 - 1
    with torch.no_grad():
        ours = model(x).numpy()
    ref = keras_ref.keras_forward(notop, x)
    assert ours.shape == ref.shape == (1, 2048)
    assert np.abs(ours - ref).max() <= TOL * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_mobilenet_logits_match_keras(tmp_path, alpha):
    def build(size):
        return keras.applications.MobileNet(weights=None, alpha=alpha, input_shape=(*size, 3),
                                            classifier_activation=None)

    km = build((224, 224))
    keras_ref.randomize(km, seed=2)
    km.save_weights(tmp_path / "m.weights.h5")
    model = dsconv.create_model("mobilenet_v1", alpha=alpha,
                                weights=tmp_path / "m.weights.h5").eval()
    odd = build((97, 130))  # odd sizes exercise Keras's (0, 1) padding
    keras_ref.copy_weights(km, odd)
    assert_matches_keras(model, [(km, (224, 224)), (odd, (97, 130))])


def test_round_trip_and_keras_opens_our_file(tmp_path):
    model = dsconv.create_model("xception", num_classes=10).eval()
    # Give BN statistics non-trivial values so the round trip checks them too.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    export_keras_weights(model, tmp_path / "ours.h5")
    back = dsconv.create_model("xception", num_classes=10, weights=tmp_path / "ours.h5")
    for (k, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        if a.is_floating_point():
            assert torch.equal(a, b), k
    km = keras.applications.Xception(weights=None, classes=10, classifier_activation=None,
                                     input_shape=(100, 100, 3))
    km.load_weights(tmp_path / "ours.h5")
    x = torch.rand(1, 3, 100, 100) * 2 - 1
    with torch.no_grad():
        ours = model(x).numpy()
    assert np.abs(ours - keras_ref.keras_forward(km, x)).max() <= TOL


def test_mobilenet_export_opens_in_keras(tmp_path):
    model = dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=7).eval()
    export_keras_weights(model, tmp_path / "mb.h5")
    km = keras.applications.MobileNet(weights=None, alpha=0.25, classes=7,
                                      classifier_activation=None, input_shape=(128, 128, 3))
    km.load_weights(tmp_path / "mb.h5")
    x = torch.rand(1, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        assert np.abs(model(x).numpy() - keras_ref.keras_forward(km, x)).max() <= TOL


@pytest.mark.parametrize("dm,stride,dilation,padding,bias", [
    (1, 1, 1, "same", False), (2, 2, 1, "same", True), (3, 1, 2, "same", False),
    (2, 2, 1, "valid", True), (1, 1, 3, "valid", True),
])
def test_layer_parity(dm, stride, dilation, padding, bias):
    from dsconv.layers import DepthwiseConv2d, SeparableConv1d, SeparableConv2d
    from dsconv.weights.keras import _assign

    rng = np.random.default_rng(dm * 10 + stride)
    cases = [
        (SeparableConv2d(5, 7, 3, stride, padding, dilation, dm, bias),
         keras.layers.SeparableConv2D(7, 3, stride, padding, dilation_rate=dilation,
                                      depth_multiplier=dm, use_bias=bias), (2, 5, 13, 12)),
        (SeparableConv1d(4, 6, 5, stride, padding, dilation, dm, bias),
         keras.layers.SeparableConv1D(6, 5, stride, padding, dilation_rate=dilation,
                                      depth_multiplier=dm, use_bias=bias), (2, 4, 23)),
        (DepthwiseConv2d(5, 3, stride, padding, dilation, dm, bias),
         keras.layers.DepthwiseConv2D(3, stride, padding, depth_multiplier=dm,
                                      dilation_rate=dilation, use_bias=bias), (1, 5, 11, 14)),
    ]
    for ours, theirs, shape in cases:
        x = torch.randn(*shape)
        theirs.build((None, *shape[2:], shape[1]))
        theirs.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in theirs.weights])
        _assign(ours, "layer", "layer", theirs.get_weights(), False)
        perm = (0, *range(2, x.dim()), 1)
        ref = np.asarray(keras.ops.convert_to_numpy(theirs(x.permute(*perm).numpy())))
        with torch.no_grad():
            out = ours(x).permute(*perm).numpy()
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() < 1e-4


def copy_lite_weights(km, model):
    """aeon's Keras LITE -> dsconv's, layer by layer in Keras's creation order. The fixed
    (trainable=False) filters are not copied: ours are built independently, so the outputs
    check them too."""
    from dsconv.weights.keras_layers import keras_layout

    b = model.blocks
    targets = {"Conv1D": list(b.multiplex.convs),  # kernels 40, 20, 10
               "BatchNormalization": [b.multiplex.bn, b.dwsc1.bn, b.dwsc2.bn],
               "SeparableConv1D": [b.dwsc1.conv, b.dwsc2.conv], "Dense": [model.head.fc]}
    for layer in km.layers:
        if layer.weights and layer.trainable:
            m = targets[type(layer).__name__].pop(0)
            keras_layout(m).load(m, layer.get_weights())
    assert not any(targets.values()), targets


@pytest.mark.parametrize("channels,length", [(1, 67), (3, 128)])
def test_lite_matches_aeons_keras_network(channels, length):
    """An independent implementation: aeon's LITENetwork (the authors' code, in Keras 3 on
    torch) with random weights and BN statistics gives our logits, and Keras's trainable /
    non-trainable counts are our profile's. 67 is shorter than the longest fixed filter (96)
    and odd; the even kernels' 'same' padding is TensorFlow's (the extra zero at the end)."""
    pytest.importorskip("aeon")
    from dsconv.cost import profile

    km = keras_ref.aeon_lite(length, channels, 4)
    keras_ref.randomize(km, seed=3)
    model = dsconv.create_model("lite", in_chans=channels, num_classes=4).eval()
    copy_lite_weights(km, model)
    prof = profile(model, (length,))
    count = [sum(int(np.prod(w.shape)) for w in ws)
             for ws in (km.trainable_weights, km.non_trainable_weights)]
    assert [prof.trainable_params, prof.non_trainable_params] == count
    if channels == 1:  # the paper's 9,814 plus the Dense; 438 filter taps + 354 BN stats
        assert count == [9_814 + 33 * 4, 792]
    x = torch.randn(2, channels, length)
    with torch.no_grad():
        ours = model(x).numpy()
    ref = keras_ref.keras_forward(km, x)
    assert np.abs(ours - ref).max() <= TOL * max(1.0, np.abs(ref).max())


def _table_cases():
    """(dsconv module factory, Keras layer, Keras input shape, conv_classifier): one or more per
    row of the Keras layout table."""
    from torch import nn

    from dsconv.layers import Conv1d, DepthwiseConv2d, SeparableConv2d

    L = keras.layers
    return [
        (lambda: SeparableConv2d(5, 7, 3, depth_multiplier=2, bias=True),
         L.SeparableConv2D(7, 3, depth_multiplier=2), (9, 9, 5), False),
        (lambda: SeparableConv2d(5, 7, 3), L.SeparableConv2D(7, 3, use_bias=False), (9, 9, 5),
         False),
        (lambda: DepthwiseConv2d(5, 3, depth_multiplier=3, bias=True),
         L.DepthwiseConv2D(3, depth_multiplier=3), (9, 9, 5), False),
        (lambda: nn.Conv2d(4, 8, 3, groups=4, bias=False),  # depthwise by its groups
         L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False), (9, 9, 4), False),
        (lambda: Conv1d(4, 6, 5, bias=True), L.Conv1D(6, 5), (11, 4), False),
        (lambda: nn.Conv2d(3, 6, (3, 2)), L.Conv2D(6, (3, 2)), (9, 9, 3), False),
        (lambda: nn.BatchNorm2d(6), L.BatchNormalization(), (4, 4, 6), False),
        (lambda: nn.Linear(8, 3), L.Dense(3), (8,), False),
        (lambda: nn.Linear(8, 3), L.Conv2D(3, 1), (1, 1, 8), True),  # MobileNet's conv_preds
    ]


def test_keras_layout_table_round_trips_every_row():
    from dsconv.weights.keras_layers import DENSE_AS_CONV, KERAS_LAYOUTS, keras_layout

    rng = np.random.default_rng(0)
    used = set()
    for build, layer, shape, as_conv in _table_cases():
        ours, back = build(), build()
        layout = keras_layout(ours, as_conv)
        used.add(layout.keras_class)
        with torch.no_grad():  # every tensor random, so a swapped or transposed one shows
            for t in [*ours.parameters(), *ours.buffers()]:
                if t.is_floating_point():
                    t.copy_(torch.from_numpy(rng.normal(size=tuple(t.shape))))
        arrays = layout.to_keras(ours)
        layer.build((None, *shape))
        # torch -> Keras: the arrays Keras's own layer holds, in its order and shapes ...
        assert [a.shape for a in arrays] == [tuple(w.shape) for w in layer.weights], layer
        assert len(layout.weight_names(ours)) == len(arrays)
        layer.set_weights(arrays)
        # ... -> torch: a fresh module gets every tensor back exactly.
        keras_layout(back, as_conv).load(back, layer.get_weights())
        for (k, a), b in zip(ours.state_dict().items(), back.state_dict().values()):
            if a.is_floating_point():
                assert torch.equal(a, b), (layer, k)
    assert used == {r.keras_class for r in (*KERAS_LAYOUTS, DENSE_AS_CONV)}


def test_keras_layout_refuses_what_keras_cannot_hold():
    from torch import nn

    from dsconv.layers import SeparableConv2d
    from dsconv.weights.keras_layers import module_to_keras

    for m in (SeparableConv2d(4, 6, 3, order="pointwise_first"), SeparableConv2d(4, 6, 3,
                                                                                segments=2)):
        with pytest.raises(WeightFileError, match="only depthwise-first, fully depthwise"):
            module_to_keras(m)
    with pytest.raises(WeightFileError, match="no Keras layout for ReLU"):
        module_to_keras(nn.ReLU())


def test_not_hdf5(tmp_path):
    p = tmp_path / "w.h5"
    p.write_bytes(b"this is not a weight file at all")
    with pytest.raises(WeightFileError, match="not an HDF5 file"):
        load_keras_weights(dsconv.create_model("mobilenet_v1"), p)


def test_truncated(keras_xception, tmp_path):
    _, d = keras_xception
    for name in ("x.h5", "x.keras"):
        data = (d / name).read_bytes()
        p = tmp_path / name
        p.write_bytes(data[: len(data) // 3])
        with pytest.raises(WeightFileError, match="truncated"):
            load_keras_weights(dsconv.create_model("xception"), p)


def test_wrong_architecture_and_classes(keras_xception):
    _, d = keras_xception
    with pytest.raises(WeightFileError, match="missing layer 'conv_dw_1'"):
        load_keras_weights(dsconv.create_model("mobilenet_v1"), d / "x.weights.h5")
    expected = r"(?s)include_top.*predictions.*expected.*\(2048, 5\).*found.*\(2048, 1000\)"
    with pytest.raises(WeightFileError, match=expected):
        load_keras_weights(dsconv.create_model("xception", num_classes=5), d / "x.weights.h5")
    notop = dsconv.create_model("xception", include_top=False)
    with pytest.raises(WeightFileError, match="extra layer 'predictions'"):
        load_keras_weights(notop, d / "x.weights.h5")
    report = load_keras_weights(notop, d / "x.weights.h5", strict=False)
    assert [n for n, _ in report.skipped] == ["predictions"] and len(report.loaded) == 80


def test_safetensors_round_trip_and_errors(tmp_path):
    model = dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=3)
    save_weights(model, tmp_path / "m.safetensors")
    other = dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=3)
    load_weights(other, tmp_path / "m.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 other.state_dict().values()))
    with pytest.raises(ValueError, match=r"head.fc.weight: model \(5, 256\) vs file \(3, 256\)"):
        load_weights(dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=5),
                     tmp_path / "m.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_weights(model, tmp_path / "bad.safetensors")


def test_cli_convert_both_ways(keras_xception, tmp_path, capsys):
    from dsconv.cli import main

    _, d = keras_xception
    out = tmp_path / "x.safetensors"
    assert main(["convert", "keras", str(d / "x.h5"), str(out), "--model", "xception"]) == 0
    assert "loaded 81 Keras layers" in capsys.readouterr().out
    back = tmp_path / "back.h5"
    assert main(["convert", "to-keras", str(out), str(back), "--model", "xception"]) == 0
    a = dsconv.create_model("xception", weights=d / "x.h5").state_dict()
    b = dsconv.create_model("xception", weights=back).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_preprocess_and_decode():
    from dsconv.data import decode_predictions, imagenet_classes, preprocess_input

    x = torch.tensor([0, 127.5, 255], dtype=torch.float32)
    assert preprocess_input(x).tolist() == [-1.0, 0.0, 1.0]
    assert preprocess_input(torch.tensor([255], dtype=torch.uint8)).tolist() == [1.0]
    classes = imagenet_classes()
    assert len(classes) == 1000 and classes[0] == ("n01440764", "tench")
    assert classes[281][1] == "tabby"
    logits = torch.full((1, 1000), -5.0)
    logits[0, 281], logits[0, 1] = 4.0, 3.0
    top = decode_predictions(logits, top=2)[0]
    assert [t[1] for t in top] == ["tabby", "goldfish"]
    assert abs(sum(torch.softmax(logits, 1)[0, [281, 1]].tolist()) - top[0][2] - top[1][2]) < 1e-6


def test_convert_names_an_architecture_it_does_not_read_in_one_line(tmp_path, capsys):
    import keras.src.legacy.saving.legacy_h5_format as legacy

    from dsconv.cli import main

    m = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                       classes=3)
    m.save(tmp_path / "v2.keras")
    m.save_weights(tmp_path / "v2.weights.h5")
    legacy.save_model_to_hdf5(m, tmp_path / "v2.h5")  # model.save's .h5, without its warning
    held = "a Functional model 'mobilenetv2_0.35_32', "  # what the file says it holds
    for name, flags, what in [("v2.keras", [], held), ("v2.h5", [], held),
                              ("v2.keras", ["--model", "mobilenet_v1"], held),
                              ("v2.weights.h5", [], "a Keras weights file, ")]:
        rc = main(["convert", "keras", str(tmp_path / name), str(tmp_path / "o.safetensors"),
                   *flags])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "missing layer" not in err, err
        assert what in err and "layers with weights (" in err, err
        assert "not an architecture dsconv reads; it reads Keras's Xception (layers " \
            "block1_conv1" in err and "MobileNet v1 (layers conv1, conv_dw_1" in err, err
    assert not (tmp_path / "o.safetensors").exists()


def test_convert_writes_into_a_new_folder_and_refuses_a_bad_one_first(tmp_path, capsys,
                                                                      monkeypatch):
    import dsconv.cli.convert as cli_convert
    from dsconv.cli import main
    from dsconv.weights import save_model

    src = save_model(dsconv.create_model("mobilenet_v1", alpha=0.25, num_classes=3),
                     tmp_path / "m.safetensors", "mobilenet_v1")
    out = tmp_path / "new" / "deeper" / "m.h5"
    assert main(["convert", "to-keras", str(src), str(out)]) == 0
    assert out.is_file() and list(out.parent.iterdir()) == [out]  # no temporary file left
    back = tmp_path / "back" / "m.safetensors"
    assert main(["convert", "keras", str(out), str(back)]) == 0 and back.is_file()
    capsys.readouterr()
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(cli_convert, "load_model", lambda *a, **k: pytest.fail("loaded first"))
    for kind in ("to-keras", "keras"):
        assert main(["convert", kind, str(src), str(tmp_path / "a-file" / "x")]) == 2
        assert "a-file is a file, not a folder" in capsys.readouterr().err
