"""The modalities: one resolver, typed preprocessing records that round-trip, model files
written by dsconv 0.2 read identically, and evaluation on every kind's specs."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dsconv.data import (
    ImagePreprocess,
    SeriesPreprocess,
    modality_named,
    modality_of,
    read_preprocess,
)
from dsconv.models import create_model
from dsconv.train.inference import evaluate, predict
from dsconv.weights import load_model, read_meta, save_model


@pytest.mark.parametrize("spec, kind, run", [
    (None, "image", "digits"), ("synthetic:shapes?train=20", "image", "shapes"),
    ("aeon:BasicMotions", "series", "BasicMotions"), ("x/GunPoint_TRAIN.ts", "series", "GunPoint"),
    ("some/folder/", "image", "folder"), ("d.npz", "series", "d")])
def test_one_resolver_names_the_kind_and_its_run_folder(spec, kind, run):
    m = modality_of(spec)
    assert m.name == kind and m.run_name(spec) == run and modality_named(kind) is m


def test_records_round_trip_through_json():
    for rec in [ImagePreprocess((16, 16), 1, "imagenet", 0.9),
                SeriesPreprocess([0.5, 1.0], [2.0, 1.0], 40, 2),
                SeriesPreprocess(None, None, 128, 3)]:
        back = read_preprocess(json.loads(json.dumps(rec.to_dict())))
        assert back == rec and type(back) is type(rec)
    with pytest.raises(ValueError, match="no standardisation statistics"):
        SeriesPreprocess(None, None, 128, 3).apply(np.zeros((1, 3, 128)))


def _write_02(path, model, name, preprocess: dict, classes, data=None):
    """A model file as dsconv 0.2 wrote it: its metadata JSON spelled out by hand."""
    import dataclasses

    meta = {"schema": 1, "model": name, "config": dataclasses.asdict(model.cfg),
            "classes": classes, "preprocess": preprocess,
            "provenance": {"dsconv_version": "0.2.0", "created_by": "dsconv train",
                           "data": data}}
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"dsconv": json.dumps(meta)})


def test_model_files_of_dsconv_02_load_and_predict_identically(tmp_path):
    torch.manual_seed(0)
    img = create_model("xception_mini", num_classes=3, in_chans=1).eval()
    old = {"kind": "image", "input_size": [16, 16], "in_chans": 1, "normalize": "tf",
           "resize_ratio": 0.875}
    _write_02(tmp_path / "img02.safetensors", img, "xception_mini", old, list("abc"))
    save_model(img, tmp_path / "img.safetensors", "xception_mini", list("abc"),
               ImagePreprocess((16, 16), 1))
    ser = create_model("xceptiontime", num_classes=2, in_chans=2, nf=4).eval()
    stats = {"kind": "series", "input_size": [30], "in_chans": 2, "mean": [0.0, 1.0],
             "std": [1.0, 2.0], "length": 30, "channels": 2}
    _write_02(tmp_path / "ser02.safetensors", ser, "xceptiontime", stats, ["u", "v"])
    save_model(ser, tmp_path / "ser.safetensors", "xceptiontime", ["u", "v"],
               SeriesPreprocess([0.0, 1.0], [1.0, 2.0], 30, 2))
    pixels = np.random.default_rng(0).integers(0, 256, (2, 20, 24)).astype(np.uint8)
    series = np.random.default_rng(1).normal(size=(3, 2, 30))
    for name, x in [("img", pixels), ("ser", series)]:
        old_meta, new_meta = read_meta(tmp_path / f"{name}02.safetensors"), read_meta(
            tmp_path / f"{name}.safetensors")
        assert old_meta.preprocess == new_meta.preprocess
        assert json.loads(new_meta.to_json())["preprocess"] == (old if name == "img" else stats)
        a = predict(tmp_path / f"{name}02.safetensors", x, top=2)
        b = predict(tmp_path / f"{name}.safetensors", x, top=2)
        assert a == b and len(a) == len(x)
    # Image results keep dsconv 0.1's 'image' key; series results are not called images.
    assert predict(tmp_path / "img.safetensors", pixels)[0]["image"] == "input[0]"
    assert "image" not in predict(tmp_path / "ser.safetensors", series)[0]


def test_a_series_model_saved_without_data_says_it_has_no_statistics(tmp_path):
    model = create_model("xceptiontime", num_classes=2, nf=4)
    path = save_model(model, tmp_path / "m.safetensors", "xceptiontime", ["a", "b"])
    net, meta = load_model(path)
    assert meta.preprocess == SeriesPreprocess(None, None, 128, 3)
    with pytest.raises(ValueError, match="no standardisation statistics"):
        predict(path, np.zeros((1, 3, 128)))


def test_evaluate_a_model_trained_on_synthetic_shapes(tmp_path):
    from dsconv.data import load_synthetic

    spec = "synthetic:shapes?train=20&test=30"
    train, _ = load_synthetic(spec, 24)
    model = create_model("xception_mini", num_classes=10, in_chans=3)
    path = save_model(model, tmp_path / "m.safetensors", "xception_mini", train.classes,
                      ImagePreprocess((24, 24), 3), {"data": spec, "val_split": 0.1})
    m = evaluate(path, workers=0)  # no --data: the spec rebuilds the test images
    assert m["n"] == 30 and m["split"] == f"{spec} (test images)" and m["unit"] == "images"
    with pytest.raises(ValueError, match="differ from the model's"):
        evaluate(save_model(create_model("xception_mini", num_classes=2), tmp_path / "x",
                            "xception_mini", ["p", "q"], ImagePreprocess((24, 24), 3)),
                 data=spec, workers=0)


def test_bundled_images_keep_their_channels_under_an_init_file():
    from dsconv.data import DataSettings

    image = modality_of(None)
    got = image.training_data(DataSettings(None, init_chans=3), "xception_mini")
    assert got.preprocess == ImagePreprocess((16, 16), 1) and got.val_name == "test"
    shapes = image.training_data(DataSettings("synthetic:shapes?train=10&test=10",
                                                   init_chans=1), "xception_mini")
    assert shapes.preprocess.in_chans == 3  # the shapes are rendered in colour


def test_the_digits_test_split_is_the_one_the_run_drew():
    """A digits model trained with seed 3 is scored on seed 3's test split (it was scored on
    seed 0's, which holds some of its training digits); a split_seed, when recorded, wins."""
    from dsconv.data import DataSettings, digits, labelled_split

    classes = [str(i) for i in range(10)]
    pre = ImagePreprocess((8, 8), 1)
    drawn = modality_of(None).training_data(DataSettings(None, img_size=8, seed=3), "x").val
    for provenance in ({"data": None, "seed": 3}, {"data": None, "seed": 5, "split_seed": 3}):
        scored = labelled_split(pre, classes, None, provenance)
        assert torch.equal(scored.x, drawn.x) and torch.equal(scored.x, digits(8, 3)[1].x)
    assert not torch.equal(drawn.x, digits(8, 0)[1].x)
