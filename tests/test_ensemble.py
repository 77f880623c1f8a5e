"""Ensembles: the members' probabilities averaged exactly, one model file every command
rebuilds, train --ensemble (seeds, one held-out split, resume keeps finished members, --init),
`dsconv ensemble`, and the one-line refusals."""

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import dsconv
from dsconv.cli import main
from dsconv.data import labelled_split
from dsconv.models import Ensemble, ensemble_of, register_ensemble
from dsconv.models import registry as reg
from dsconv.train import TrainConfig, TrainingInterrupted, evaluate, train
from dsconv.train.ensemble import ensemble_plan
from dsconv.train.metrics import run_eval
from dsconv.weights import load_model, read_meta, save_model

SMALL = dict(nf=4, kernels=(9, 5), adaptive_size=8)  # xceptiontime small enough for seconds


def series_npz(path):
    """24 two-channel series of 3 classes (a sine whose frequency is the class), no test split:
    a run holds out a seeded part."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 8)
    t = np.linspace(0, 1, 32)
    x = np.sin(2 * np.pi * (1 + 2 * y)[:, None, None] * t) + 0.3 * rng.normal(size=(24, 2, 32))
    np.savez(path, X=x, y=y)
    return str(path)


def params(path):
    return load_file(str(path))


def raw_meta(path):
    with safe_open(str(path), "pt") as fh:
        return json.loads(fh.metadata()["dsconv"])


@pytest.fixture(scope="module")
def one_thread():
    """One thread: the 1-D depthwise kernel's weight gradient sums its workers' parts in the
    order they finish, so with more threads two runs may differ in the last bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    """An ensemble of 2 trained by `train(ensemble=2)` (seed 3): (config, summary, folder)."""
    root = tmp_path_factory.mktemp("ensemble")
    cfg = TrainConfig(data=series_npz(root / "s.npz"), out=str(root / "ref"), ensemble=2,
                      epochs=1, model_args=SMALL, val_split=0.25, seed=3, precise_bn=0,
                      amp="none", progress=False)
    return cfg, train(cfg), root


@pytest.mark.parametrize("name, kw, shape", [
    ("xceptiontime", dict(in_chans=2, num_classes=4, **SMALL), (5, 2, 32)),
    ("inceptiontime", dict(in_chans=3, num_classes=3, nf=4), (4, 3, 20)),
    ("xception_mini", dict(num_classes=5), (2, 3, 33, 33))])
def test_softmax_of_the_ensemble_is_the_mean_of_its_members(name, kw, shape):
    ens = ensemble_of(name, 3, **kw).eval()
    for m in ens.members:  # logits in the thousands: a naive exp would overflow
        m.register_forward_hook(lambda mod, inp, out: out * 1e4)
    x = torch.randn(shape)
    with torch.no_grad():
        out = ens(x)
        mean = torch.stack([m(x).softmax(-1) for m in ens.members]).mean(0)
    assert out.shape == mean.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out.softmax(-1), mean, atol=1e-6, rtol=0)
    assert list(ens.state_dict())[0].startswith("members.0.")


def test_an_ensemble_file_rebuilds_alone_and_predicts_to_the_bit(tmp_path, monkeypatch):
    monkeypatch.setitem(reg._REGISTRY, "xt_x3", None)  # removed again after the test
    register_ensemble("xt_x3", "xceptiontime", 3, "three XceptionTimes")
    ens = dsconv.create_model("xt_x3", in_chans=2, num_classes=3, **SMALL).eval()
    assert isinstance(ens, Ensemble) and ens.n == 3
    path = save_model(ens, tmp_path / "e.safetensors", "xt_x3", ["a", "b", "c"])
    back, meta = load_model(path)
    x = torch.randn(4, 2, 32)
    with torch.no_grad():
        assert torch.equal(back(x), ens(x))
    assert isinstance(back, Ensemble) and meta.title == "ensemble of 3 xceptiontime"
    d = raw_meta(path)  # recorded as its members: no registry entry needed to read it
    assert (d["schema"], d["model"], d["ensemble"], d["config"]["nf"]) == (2, "xceptiontime",
                                                                            3, 4)
    one = save_model(ens.members[0], tmp_path / "one.safetensors", "xceptiontime")
    assert raw_meta(one)["schema"] == 1 and "ensemble" not in raw_meta(one)


def test_train_ensemble_writes_one_file_that_evaluates_as_in_memory(trained):
    cfg, s, root = trained
    out = root / "ref"
    net, meta = load_model(out / "model.safetensors")
    assert isinstance(net, Ensemble) and meta.ensemble == 2 and s["ensemble"] == 2
    m = evaluate(out / "model.safetensors", cfg.data)
    assert "held-out 25%" in m["split"]  # the members' shared split, rebuilt from the file
    data = labelled_split(meta.preprocess, meta.classes, cfg.data, meta.provenance)
    assert m["top1"] == s["top1"] == run_eval(net, data, 3)["top1"]
    for i, row in enumerate(s["members"]):  # each member's figure is its own file's
        member = out / f"member-{i}" / "model.safetensors"
        assert row["top1"] == evaluate(member, cfg.data)["top1"] and row["seed"] == 3 + i
        validated = json.loads((member.parent / "summary.json").read_text())["final"]
        assert validated["val_top1"] == row["top1"]  # it held out the split scored here
        prov = read_meta(member).provenance
        assert (prov["seed"], prov["split_seed"]) == (3 + i, 3)
    a, b = (params(out / f"member-{i}" / "model.safetensors") for i in (0, 1))
    assert any(not torch.equal(a[k], b[k]) for k in a)  # different seeds, different weights
    assert meta.provenance["split_seed"] == 3 and meta.provenance["val_split"] == 0.25
    assert json.loads((out / "summary.json").read_text()) == s
    with open(out / "members.csv") as fh:
        assert [r["member"] for r in csv.DictReader(fh)] == ["0", "1", "ensemble"]


def test_dsconv_ensemble_of_the_member_files_is_the_trained_file(trained, tmp_path, capsys):
    _, _, root = trained
    members = [str(root / "ref" / f"member-{i}" / "model.safetensors") for i in (0, 1)]
    out = tmp_path / "e.safetensors"
    assert main(["ensemble", *members, "--out", str(out)]) == 0
    assert f"wrote {out}: ensemble of 2 xceptiontime" in capsys.readouterr().out
    ref = params(root / "ref" / "model.safetensors")
    assert all(torch.equal(v, ref[k]) for k, v in params(out).items()) and len(ref) > 0
    assert read_meta(out).provenance["split_seed"] == 3


@pytest.mark.slow
def test_resume_after_an_interruption_keeps_the_finished_member(trained, monkeypatch):
    from dsconv.train import ensemble, trainer

    cfg, _, root = trained
    cut = dataclasses.replace(cfg, out=str(root / "cut"))
    real_log = trainer.log_epoch

    def die_in_member_1(run, row):
        real_log(run, row)
        if run.out.name == "member-1":
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "log_epoch", die_in_member_1)
    with pytest.raises(TrainingInterrupted, match=r"of ensemble member 2 of 2 \(seed 4, .*"
                       r"`dsconv train --resume --out .*cut` continues the ensemble"):
        train(cut)
    monkeypatch.setattr(trainer, "log_epoch", real_log)
    first = (root / "cut" / "member-0" / "model.safetensors").read_bytes()
    ran = []
    monkeypatch.setattr(ensemble, "train", lambda c: ran.append(c.out) or trainer.train(c))
    s = train(TrainConfig(out=str(root / "cut"), resume=True, progress=False))
    assert ran == [str(root / "cut" / "member-1")] and s["ensemble"] == 2
    assert (root / "cut" / "member-0" / "model.safetensors").read_bytes() == first
    a, b = params(root / "ref" / "model.safetensors"), params(root / "cut" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # as the uninterrupted ensemble, to the bit


@pytest.mark.slow
def test_init_from_an_ensemble_fine_tunes_each_member_from_its_own(trained):
    cfg, _, root = trained
    ref = root / "ref" / "model.safetensors"
    s = train(dataclasses.replace(cfg, out=str(root / "tuned"), ensemble=None, init=str(ref)))
    assert s["ensemble"] == 2
    own = params(ref)
    for i in (0, 1):
        init = params(root / "tuned" / f"member-{i}" / "init.safetensors")
        assert all(torch.equal(v, own[f"members.{i}.{k}"]) for k, v in init.items())
        assert read_meta(root / "tuned" / f"member-{i}" / "model.safetensors").provenance[
            "init_loaded"] == len(init)


@pytest.mark.slow
def test_the_time_limit_stops_the_ensemble_and_resume_finishes_it(trained):
    cfg, _, root = trained
    s = train(dataclasses.replace(cfg, out=str(root / "limited"), batch_size=8,
                                  time_limit=1e-4))  # 6 ms: member 0 stops after step 1
    assert s["timed_out"] and s["stopped_early"] == ("stopped at the time limit of 0.0001 "
                                                     "min, in member 1 of 2; --resume "
                                                     "continues the ensemble")
    assert not (root / "limited" / "model.safetensors").exists()
    s = train(TrainConfig(out=str(root / "limited"), resume=True, progress=False))
    assert not s["timed_out"] and s["ensemble"] == 2  # the limit was that invocation's


@pytest.mark.slow
def test_onnx_export_of_an_ensemble_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    from dsconv.deploy import export_onnx, onnx_session

    ens = ensemble_of("xceptiontime", 2, in_chans=2, num_classes=3, **SMALL).eval()
    res = export_onnx(ens, tmp_path / "e.onnx", (32,))
    assert res["max_abs_diff"] <= 1e-5
    x = torch.randn(3, 2, 32)
    with torch.no_grad():
        torch.testing.assert_close(onnx_session(tmp_path / "e.onnx")(x).softmax(-1),
                                   ens(x).softmax(-1), atol=1e-6, rtol=0)


def test_ensemble_plan_follows_a_registered_ensemble_and_an_init_file(tmp_path, monkeypatch):
    monkeypatch.setitem(reg._REGISTRY, "xt_x3", None)
    register_ensemble("xt_x3", "xceptiontime", 3, "three XceptionTimes")
    assert ensemble_plan(TrainConfig(model="xt_x3", data="aeon:BasicMotions")) == (
        "xceptiontime", 3)
    assert ensemble_plan(TrainConfig(ensemble=4)) == (None, 4)
    with pytest.raises(ValueError, match="^--model xt_x3 is an ensemble of 3 xceptiontime: "
                       "drop --ensemble 2, or train --model xceptiontime --ensemble 2$"):
        ensemble_plan(TrainConfig(model="xt_x3", ensemble=2, data="aeon:BasicMotions"))
    path = save_model(ensemble_of("xceptiontime", 2, **SMALL), tmp_path / "e.safetensors",
                      "xceptiontime")
    assert ensemble_plan(TrainConfig(init=str(path), data="aeon:BasicMotions")) == (None, 2)
    with pytest.raises(ValueError, match="holds an ensemble of 2: each member starts from one "
                       "of its members, so leave out --ensemble 3"):
        ensemble_plan(TrainConfig(init=str(path), ensemble=3, data="aeon:BasicMotions"))
    with pytest.raises(ValueError, match=r"holds an ensemble of 2 networks: --init takes one; "
                       r"train --ensemble 2"):
        dsconv.weights.init_from(dsconv.create_model("xceptiontime", **SMALL), path)


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["train", "--ensemble", "0", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == ("dsconv train: error: --ensemble 0: must be >= 1 (the "
                                       "number of networks to train)\n")
    (tmp_path / "p.en").write_text("a b\n")
    (tmp_path / "p.de").write_text("c d\n")
    with pytest.raises(ValueError, match="^--ensemble 2: translation models are not "
                       "classifiers; an ensemble averages the class probabilities"):
        TrainConfig(data=str(tmp_path / "p.en-de"), ensemble=2)
    with pytest.raises(ValueError, match="^slicenet_small is a translation model, not a "
                       "classifier"):
        ensemble_of("slicenet_small", 2)
    files = {}
    for name, model, kw in [("xt", "xceptiontime", SMALL), ("xt8", "xceptiontime", {"nf": 8}),
                            ("it", "inceptiontime", {"nf": 4}),
                            ("sn", "slicenet_small", dict(vocab_size=50, hidden=16))]:
        files[name] = str(save_model(dsconv.create_model(model, **kw),
                                     tmp_path / f"{name}.safetensors", model))
    for pair, why in [(("xt", "it"), "hold different models (xceptiontime vs inceptiontime)"),
                      (("xt", "xt8"), "hold xceptiontime with different configs (nf 4 vs 8, "
                                      "kernels"),
                      (("sn", "xt"), "holds slicenet_small, a translation model: not a "
                                     "classifier")]:
        assert main(["ensemble", *(files[p] for p in pair), "--out",
                     str(tmp_path / "e.safetensors")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err, err
    assert main(["ensemble", files["xt"], "--out", str(tmp_path / "e.safetensors")]) == 2
    assert "an ensemble needs at least 2 model files, got 1" in capsys.readouterr().err
    single = tmp_path / "single"  # a folder holding one network's run
    save_model(dsconv.create_model("xceptiontime", **SMALL), single / "model.safetensors",
               "xceptiontime")
    for resume, why in [(True, "holds the run of one network, not an ensemble's"),
                        (False, "already holds a run: --resume continues it")]:
        with pytest.raises(ValueError, match=why):
            train(TrainConfig(out=str(single), ensemble=2, resume=resume, progress=False))


@pytest.mark.slow
def test_overwrite_leaves_nothing_of_the_previous_run(trained):
    """--overwrite with fewer members removes the extra member folders; a single network's run
    over an ensemble's folder removes the ensemble's record and members (else --resume would
    take the folder for the old ensemble)."""
    import shutil

    cfg, _, root = trained
    over = root / "over"
    shutil.copytree(root / "ref", over)
    shutil.copytree(over / "member-1", over / "member-2")  # as an ensemble of 3 had left it
    s = train(dataclasses.replace(cfg, out=str(over), overwrite=True))
    assert s["ensemble"] == 2 and sorted(p.name for p in over.glob("member-*")) == [
        "member-0", "member-1"]
    a, b = params(root / "ref" / "model.safetensors"), params(over / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    train(dataclasses.replace(cfg, out=str(over), ensemble=None, overwrite=True))
    assert not list(over.glob("member-*")) and not (over / "ensemble.json").exists()
    assert not (over / "members.csv").exists() and read_meta(over / "model.safetensors"
                                                             ).ensemble is None
