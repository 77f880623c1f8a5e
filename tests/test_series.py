"""Tests for series.py / series_io.py: aeon sets, .npz/.ts/.arff/.csv/.npy, bad input, stats."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import dsconv.data.series as S
import dsconv.data.series_io as series_io


def _no_network(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args[:2]}")


@pytest.fixture(autouse=True, scope="module")
def offline():
    """Sockets, urllib and aeon's downloaders booby-trapped; module scope so that it is in place
    before the module-scoped data fixtures load anything."""
    import aeon.datasets as ad
    import aeon.datasets._data_loaders as dl

    with pytest.MonkeyPatch.context() as mp:
        for obj, name in [(socket.socket, "connect"), (socket, "create_connection"),
                          (socket, "getaddrinfo"), (urllib.request, "urlopen"),
                          (urllib.request, "urlretrieve")]:
            mp.setattr(obj, name, _no_network)
        for name in ["load_classification", "download_dataset", "_download_and_extract",
                     "_load_tsc_dataset", "_load_collection"]:
            mp.setattr(dl, name, _no_network)
            mp.setattr(ad, name, _no_network, raising=False)
        yield


@pytest.fixture(scope="module")
def basic():
    return S.load_series("aeon:BasicMotions")


@pytest.fixture(scope="module")
def vowels():
    with pytest.warns(UserWarning, match="1 of 370 series are longer.*truncated"):
        return S.load_series("aeon:JapaneseVowels")


def _aeon_path(name: str, split: str) -> Path:
    return series_io.aeon_index()[name][0 if split == "TRAIN" else 1]


def _standardise(raw: list[np.ndarray], mean, std, length: int) -> np.ndarray:
    """Reference: numpy standardise, right-pad with 0 / truncate to length -> (N, C, length)."""
    out = np.zeros((len(raw), raw[0].shape[0], length), dtype=np.float32)
    for i, s in enumerate(raw):
        z = (s - mean[:, None]) / std[:, None]
        out[i, :, : min(length, s.shape[1])] = z[:, :length]
    return out


def test_list_aeon_datasets():
    names = S.list_aeon_datasets()
    for n in ["BasicMotions", "JapaneseVowels", "GunPoint", "ArrowHead", "ItalyPowerDemand"]:
        assert n in names
    assert "Covid3Month" not in names  # a regression set: not classification


def test_basic_motions(basic):
    train, test, prep = basic
    assert tuple(train.x.shape) == (40, 6, 100) and tuple(test.x.shape) == (40, 6, 100)
    assert train.classes == ["Badminton", "Running", "Standing", "Walking"]  # case restored
    assert np.bincount(train.targets).tolist() == [10] * 4
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    x, label, i = train[7]
    assert tuple(x.shape) == (6, 100) and isinstance(label, int) and i == 7
    assert (prep.channels, prep.length) == (6, 100) and train.epoch == 0


def test_japanese_vowels_padding(vowels):
    train, test, prep = vowels
    raw_train, _ = S.read_series_file(_aeon_path("JapaneseVowels", "TRAIN"))
    lengths = [s.shape[1] for s in raw_train]
    assert len(set(lengths)) > 1 and prep.length == max(lengths)
    assert tuple(train.x.shape) == (270, 12, max(lengths)) and tuple(test.x.shape)[:2] == (370, 12)
    assert len(train.classes) == 9 and train.classes == [str(k) for k in range(1, 10)]
    short = int(np.argmin(lengths))
    assert torch.all(train.x[short, :, lengths[short]:] == 0)
    assert torch.any(train.x[short, :, : lengths[short]] != 0)


@pytest.mark.parametrize("name", ["BasicMotions", "JapaneseVowels"])
def test_stats_from_train_only(name, basic, vowels):
    train, test, prep = basic if name == "BasicMotions" else vowels
    raw_tr, _ = S.read_series_file(_aeon_path(name, "TRAIN"))
    raw_te, _ = S.read_series_file(_aeon_path(name, "TEST"))
    flat = np.concatenate(raw_tr, axis=1)
    mean, std = flat.mean(axis=1), flat.std(axis=1)
    np.testing.assert_allclose(prep.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(prep.std, std, rtol=1e-12)
    real = np.concatenate([train.x[i, :, : s.shape[1]].numpy() for i, s in enumerate(raw_tr)], 1)
    np.testing.assert_allclose(real.mean(axis=1), 0, atol=1e-5)  # padding ignored
    np.testing.assert_allclose(real.std(axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(test.x.numpy(), _standardise(raw_te, mean, std, prep.length),
                               rtol=1e-6, atol=1e-6)
    assert abs(float(test.x.mean())) > 1e-4  # test uses train stats, so it is not exactly centred


def _npz(tmp_path: Path, name: str = "d.npz", **arrays) -> str:
    np.savez(tmp_path / name, **arrays)
    return str(tmp_path / name)


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x, xt = rng.normal(3, 2, (30, 3, 50)), rng.normal(3, 2, (12, 3, 50))
    y, yt = rng.integers(0, 3, 30), rng.integers(0, 3, 12)
    spec = _npz(tmp_path, X=x, y=y, X_test=xt, y_test=yt)
    train, test, prep = S.load_series(spec)
    mean, std = x.mean(axis=(0, 2)), x.std(axis=(0, 2))
    np.testing.assert_allclose(train.x.numpy(), _standardise(list(x), mean, std, 50), atol=1e-6)
    np.testing.assert_allclose(test.x.numpy(), _standardise(list(xt), mean, std, 50), atol=1e-6)
    assert train.targets == y.tolist() and test.targets == yt.tolist()
    assert train.classes == ["0", "1", "2"]
    again = S.load_series(spec)
    assert torch.equal(again[0].x, train.x) and torch.equal(again[1].x, test.x)  # deterministic


def test_npz_univariate_and_labels(tmp_path):
    rng = np.random.default_rng(1)
    y = np.array([10, 2, 1, 10, 2, 1] * 3, dtype=float)  # numeric labels, given as floats
    train, test, prep = S.load_series(_npz(tmp_path, X=rng.normal(size=(18, 40)), y=y))
    assert tuple(train.x.shape) == (18, 1, 40) and test is None and prep.channels == 1
    assert train.classes == ["1", "2", "10"]  # numeric order, '.0' dropped
    strings = S.load_series(_npz(tmp_path, "s.npz", X=rng.normal(size=(6, 8)), y=list("bcabca")))
    assert strings[0].classes == ["a", "b", "c"]


def test_constant_channel_and_val_split(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 2, 16))
    x[:, 1] = 5.0
    y = np.repeat([0, 1, 2, 3], 10)
    spec = _npz(tmp_path, X=x, y=y)
    train, val, prep = S.load_series(spec, val_split=0.3, seed=3)
    assert prep.std[1] == 1.0 and torch.all(train.x[:, 1] == 0) and torch.isfinite(val.x).all()
    assert len(train) == 28 and len(val) == 12
    assert np.bincount(val.targets).tolist() == [3, 3, 3, 3]  # stratified
    assert abs(float(train.x[:, 0].mean())) < 1e-5  # stats from the training part only
    same = S.load_series(spec, val_split=0.3, seed=3)
    assert torch.equal(same[1].x, val.x)
    other = S.load_series(spec, val_split=0.3, seed=4)
    assert not torch.equal(other[1].x, val.x)
    tr_rows = {tuple(np.round(r, 4)) for r in train.x[:, 0].numpy()}
    assert not tr_rows & {tuple(np.round(r, 4)) for r in val.x[:, 0].numpy()}  # disjoint


def test_preprocess_round_trip_and_apply(basic, vowels):
    for name, (train, test, prep) in [("BasicMotions", basic), ("JapaneseVowels", vowels)]:
        back = S.SeriesPreprocess.from_dict(json.loads(json.dumps(prep.to_dict())))
        assert back == prep
        raw_tr, labels = S.read_series_file(_aeon_path(name, "TRAIN"))
        raw_te, _ = S.read_series_file(_aeon_path(name, "TEST"))
        assert torch.equal(back.apply(raw_tr), train.x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert torch.equal(back.apply(raw_te), test.x)
        assert [train.classes.index(v) for v in labels] == train.targets
    with pytest.raises(ValueError, match="lacks keys.*length"):
        S.SeriesPreprocess.from_dict({"mean": [0.0], "std": [1.0], "channels": 1})
    with pytest.raises(ValueError, match="3 channels but the model expects 6"):
        basic[2].apply(np.zeros((2, 3, 100)))


def test_ts_arff_dir_csv_npy(tmp_path, basic):
    for split in ["TRAIN", "TEST"]:
        shutil.copy(_aeon_path("GunPoint", split), tmp_path)
    ref = S.load_series("aeon:GunPoint")
    for spec in [tmp_path, tmp_path / "GunPoint_TRAIN.ts"]:
        got = S.load_series(str(spec))
        assert torch.equal(got[0].x, ref[0].x) and torch.equal(got[1].x, ref[1].x)
    # aeon ships BasicMotions_TRAIN.arff without a TEST.arff: the .ts partner is used
    arff = _aeon_path("BasicMotions", "TRAIN").with_suffix(".arff")
    got = S.load_series(str(arff))
    assert got[0].classes == basic[0].classes and torch.equal(got[1].x, basic[1].x)
    table = np.arange(30.0).reshape(10, 3)  # rows = time, cols = channels
    np.savetxt(tmp_path / "s.csv", table, delimiter=",", header="a,b,c", comments="")
    series, labels = S.read_series_file(tmp_path / "s.csv")
    assert len(series) == 1 and labels is None and np.array_equal(series[0], table.T)
    np.save(tmp_path / "u.npy", table)  # (N, L) -> N univariate series
    series, labels = S.read_series_file(tmp_path / "u.npy")
    assert len(series) == 10 and series[0].shape == (1, 3)


def _bad(tmp_path: Path, case: str) -> str:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2, 20)), np.arange(30) % 3
    if case == "rank":
        return _npz(tmp_path, X=rng.normal(size=(30, 2, 4, 5)), y=y)
    if case == "nan":
        x[1, 0, 3] = np.nan
        x[3, 1, 5] = np.inf
        return _npz(tmp_path, X=x, y=y)
    if case == "no_y":
        return _npz(tmp_path, X=x)
    if case == "xy_len":
        return _npz(tmp_path, X=x, y=y[:29])
    if case == "one_class":
        return _npz(tmp_path, X=x, y=np.zeros(30))
    if case == "keys":
        return _npz(tmp_path, data=x, labels=y)
    if case == "unseen":
        return _npz(tmp_path, X=x, y=y, X_test=x[:4], y_test=np.array([0, 1, 2, 7]))
    (tmp_path / "d.txt").write_text("1,2,3\n")
    return {"aeon": "aeon:BasicMotion", "missing": str(tmp_path / "nope.npz"),
            "suffix": str(tmp_path / "d.txt")}[case]


@pytest.mark.parametrize("case, error, words", [
    ("rank", ValueError, ["4-D", "(N, C, L)", "Reshape"]),
    ("nan", ValueError, ["train X contains 2 NaN/inf values in 2 series", "[1, 3]", "not imputed"]),
    ("no_y", ValueError, ["labels missing", "'y'", "found keys ['X']"]),
    ("xy_len", ValueError, ["30 series", "29 labels"]),
    ("one_class", ValueError, ["only one class", "'0'", "at least 2"]),
    ("keys", ValueError, ["wrong keys", "'X'", "found keys ['data', 'labels']"]),
    ("unseen", ValueError, ["absent from training", "['7']"]),
    ("aeon", ValueError, ["not a classification data set", "Did you mean 'BasicMotions'",
                          "GunPoint", "JapaneseVowels"]),
    ("missing", FileNotFoundError, ["nope.npz"]),
    ("suffix", ValueError, ["unsupported spec", "aeon:NAME"]),
])
def test_bad_input(tmp_path, case, error, words):
    spec = _bad(tmp_path, case)
    with pytest.raises(error) as info:
        S.load_series(spec)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_bad_val_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"val_split must be in \[0, 1\)"):
        S.load_series("aeon:GunPoint", val_split=1.0)
    with pytest.raises(FileNotFoundError, match="nothing.ts"):
        S.read_series_file(tmp_path / "nothing.ts")
    with pytest.raises(ValueError, match="NaN/inf"):
        S.load_series("aeon:GunPoint")[2].apply(np.full((1, 150), np.nan))


def test_aeon_imported_lazily():
    code = ("import sys, dsconv.data.series as series; series.list_aeon_datasets(); "
            "assert 'aeon' not in sys.modules, 'aeon imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------ messages a user hit (.ts, .arff, y)

TOY_TS = """# two channels, two classes
@problemName Toy
@timeStamps false
@missing false
@univariate false
@dimensions 2
@equalLength true
@seriesLength 3
@classLabel true Up Down
@data
1,2,3:4,5,6:Up
1,2,3:4,5,6:Down
"""


@pytest.mark.parametrize("old, new, words", [
    # a bad label separator: aeon said "Inconsistent number of dimensions in case 2"
    ("4,5,6:Down", "4,5,6,Down", ["line 12", "1 channel(s), expected 2", ":LABEL",
                                  "'4,5,6,Down'"]),
    # aeon said "could not convert string to float: 'abc'"
    ("1,2,3:4,5,6:Down", "1,abc,3:4,5,6:Down", ["line 12", "channel 1", "'abc' is not a number"]),
    # a misspelled header was ignored and the file trained
    ("@classLabel", "@classLabl", ["line 9", "unknown header '@classLabl'",
                                   "did you mean '@classLabel'", "@seriesLength", "@data"]),
    (":Down", ":Sideways", ["line 12", "label 'Sideways' is not declared", "Up Down"]),
    ("@seriesLength 3", "@seriesLength 4", ["line 11", "3 values per channel",
                                            "'@seriesLength 4'", "@equalLength false"]),
    ("@missing false", "@missing no", ["line 4", "@missing takes true or false; got no"]),
    ("@data\n", "", ["line 10", "expected a '@' header line or '@data' before the series"]),
])
def test_ts_errors_name_the_file_the_line_and_what_was_expected(tmp_path, old, new, words):
    path = tmp_path / "toy.ts"  # not NAME_TRAIN.ts: no test partner is looked for
    path.write_text(TOY_TS.replace(old, new))
    with pytest.raises(ValueError) as info:
        S.load_series(str(path))
    assert str(info.value).startswith(str(path)), str(info.value)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_ts_reads_like_aeon_and_keeps_the_header_spelling(tmp_path):
    path = tmp_path / "toy.ts"
    path.write_text(TOY_TS.replace(":Down\n", ":down\n").replace("1,2,3:4,5,6:Up",
                                                                "1,?,3:4,5,6:Up"))
    series, labels = S.read_series_file(path)
    assert labels.tolist() == ["Up", "Down"]  # the header's spelling; aeon gives 'up', 'down'
    np.testing.assert_array_equal(series[1], [[1, 2, 3], [4, 5, 6]])
    assert np.isnan(series[0][0, 1])  # '?' is missing
    for name in ["BasicMotions", "JapaneseVowels"]:  # the values are aeon's, to the bit
        from aeon.datasets import load_from_ts_file

        x, _ = load_from_ts_file(str(_aeon_path(name, "TRAIN")))
        ours, _ = S.read_series_file(_aeon_path(name, "TRAIN"))
        assert all(np.array_equal(a, b) for a, b in zip(ours, x)) and len(ours) == len(x)


def test_arff_bad_value_names_the_file_and_line(tmp_path):
    path = tmp_path / "toy.arff"
    path.write_text("@relation toy\n@attribute t0 numeric\n@attribute t1 numeric\n"
                    "@attribute target {a,b}\n@data\n1,2,a\n1,abc,b\n")
    with pytest.raises(ValueError) as info:
        S.read_series_file(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "line 7" in msg and "'abc' is not a number" in msg, msg


def test_float_labels_are_called_continuous_not_a_val_split_problem(tmp_path):
    rng = np.random.default_rng(0)
    spec = _npz(tmp_path, X=rng.normal(size=(60, 1, 20)), y=rng.normal(size=60))
    with pytest.raises(ValueError) as info:
        S.load_series(spec, val_split=0.1)
    msg = str(info.value)
    for w in ["y looks continuous (regression targets)", "60 of 60 labels are not whole numbers",
              "integer or string class labels", "y.astype(str)"]:
        assert w in msg, (w, msg)
    assert "holds out no series" not in msg
    # predicting the file ignores its labels
    assert len(S.read_series_file(spec, with_labels=False)[0]) == 60


def test_labels_keep_the_files_case_and_aeons_lowercase_ones_still_match(tmp_path, basic):
    """aeon's loader lowercases ('standing'); dsconv keeps the file's 'Standing' and matches
    data carrying aeon's spelling to the model's classes ignoring case."""
    from aeon.datasets import load_from_ts_file

    path = _aeon_path("BasicMotions", "TEST")
    rows = [ln for ln in path.read_text().splitlines() if ln and ln[0] not in "#@"]
    in_file = [ln.rsplit(":", 1)[1] for ln in rows]
    x, y_aeon = load_from_ts_file(str(path))
    series, labels = S.read_series_file(path)
    assert labels.tolist() == in_file and "Standing" in in_file  # exactly the file's labels
    assert y_aeon.tolist() == [v.lower() for v in in_file]  # aeon's own: lowercased
    train, test, prep = basic
    spec = _npz(tmp_path, X=x, y=y_aeon)
    ds = S.labelled_series(spec, {"kind": "series", **prep.to_dict()}, train.classes)
    assert ds.targets == test.targets and torch.equal(ds.x, test.x)
    assert S.class_indices(["b", "Ab", "aB"], ["Ab", "aB", "B"], "y").tolist() == [2, 0, 1]
    with pytest.raises(ValueError, match=r"labels \['AB'\] are not among"):  # 2 classes fold
        S.class_indices(["AB"], ["Ab", "aB", "B"], "y")


def test_evaluation_rebuilds_the_held_out_series_of_the_training_file(tmp_path):
    from dsconv.data import labelled_split

    rng = np.random.default_rng(4)
    spec = _npz(tmp_path, X=rng.normal(size=(40, 2, 16)), y=np.repeat(["b", "a"], 20))
    train, val, prep = S.load_series(spec, val_split=0.25, seed=3)
    pre = {"kind": "series", **prep.to_dict()}
    run = {"data": spec, "val_split": 0.25, "seed": 3}
    held = labelled_split(pre, train.classes, spec, run)
    assert torch.equal(held.x, val.x) and held.targets == val.targets
    assert held.split_name == f"{spec} (held-out 25% of the training data)"
    rest = labelled_split(pre, train.classes, None, run, split="train")  # quantize calibrates
    assert torch.equal(rest.x, train.x)
    old = labelled_split(pre, train.classes, spec, {"data": spec})  # a file from before
    assert len(old) == 40 and "may include the model's training series" in old.split_name
    other = tmp_path / "copy.npz"
    shutil.copy(spec, other)
    assert labelled_split(pre, train.classes, str(other), run).split_name == \
        f"{other} (all series)"


def test_predicting_long_series_notes_it_without_a_raw_warning(tmp_path, capsys):
    import dsconv
    from dsconv.cli import main
    from dsconv.weights import save_model

    prep = S.SeriesPreprocess([0.0, 0.0], [1.0, 1.0], 32, 2)
    model = dsconv.create_model("xceptiontime", in_chans=2, num_classes=2)
    weights = save_model(model, tmp_path / "m.safetensors", "xceptiontime", ["x", "y"],
                         {"kind": "series", "input_size": [32], "in_chans": 2, **prep.to_dict()})
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "long.npz", X=rng.normal(size=(3, 2, 50)))
    np.savez(tmp_path / "ok.npz", X=rng.normal(size=(2, 2, 20)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would fail the run
        rc = main(["predict", "--weights", str(weights), str(tmp_path / "long.npz"),
                   str(tmp_path / "ok.npz")])
    out, err = capsys.readouterr()
    assert rc == 0 and out.count("long.npz[") == 3 and out.count("ok.npz[") == 2, err
    assert err.strip().splitlines() == [
        f"note: {tmp_path / 'long.npz'}: 3 of 3 series are longer than the model length 32 (up "
        "to 50 steps, e.g. samples [0, 1, 2]); they are truncated to their first 32 steps"]
    from dsconv.train import predict

    res = predict(weights, torch.tensor(rng.normal(size=(2, 40))[:, None].repeat(2, 1)), top=1)
    assert [r["input"] for r in res] == ["input[0]", "input[1]"] and "note" in res[0]
