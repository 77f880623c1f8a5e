"""Nothing lost, nothing raw: one writer per run folder, bad settings refused before any work,
Ctrl-C as one line that says how to resume, and experiments that never mix runs made with
different settings."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dsconv.cli import main
from dsconv.experiments import find_spec, load_spec, plan
from dsconv.experiments.runner import train_config
from dsconv.train import TrainConfig
from dsconv.train import checkpoint as ckpt
from dsconv.utils import FolderBusy, folder_lock

PY = sys.executable
FAST = ["--img-size", "8", "--batch-size", "64", "--quiet", "--workers", "0"]
TINY_SPEC = """name = "tiny"
claim = "residual connections help"
seeds = 1
[base]
model = "xception_mini"
data = "synthetic:shapes?train=64&test=32"
img_size = 12
epochs = 1
batch_size = 32
[[variants]]
name = "residual"
[[variants]]
name = "plain"
model_args = { residual = false }
[[checks]]
better = "residual"
worse = "plain"
"""


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


# --- one writer per run folder -----------------------------------------------------------

def test_second_writer_is_refused_naming_the_holder_and_a_killed_holder_frees_it(tmp_path,
                                                                                 capsys):
    out = tmp_path / "race"
    holder = subprocess.Popen(
        [PY, "-c", "import sys, time; from dsconv.utils import folder_lock\n"
         f"with folder_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        rc, _, err = cli(capsys, "train", "--out", out, "--epochs", "1", *FAST)
        assert rc == 2
        assert f"{out} is in use by a training run: pid {holder.pid}" in err
        assert len(err.strip().splitlines()) == 1
        assert not (out / "checkpoints").exists()  # refused before any work
    finally:
        holder.kill()  # SIGKILL: no clean-up ran; the kernel drops the lock
        holder.wait()
    with folder_lock(out):  # a dead holder's lock does not block
        with pytest.raises(FolderBusy, match="in use by a run"):
            with folder_lock(out):
                pass


def test_refused_or_failed_start_leaves_no_empty_folder(tmp_path, capsys):
    out = tmp_path / "new"
    rc, _, err = cli(capsys, "train", "--model", "xception", "--img-size", "32", "--out", out)
    assert rc == 2 and "--img-size >= 71" in err
    assert not out.exists()


# --- bad settings refused before any work --------------------------------------------------

@pytest.mark.parametrize("size, message", [
    ("-5", "--img-size -5: must be a positive size"),
    ("0", "--img-size 0: must be a positive size"),
])
def test_bad_image_sizes_are_refused(size, message, tmp_path, capsys):
    rc, out, err = cli(capsys, "train", "--img-size", size, "--out", tmp_path / "r")
    assert rc == 2 and message in err
    assert "Warning" not in err and out == ""
    assert not (tmp_path / "r").exists()


def test_size_below_the_models_minimum_names_the_flag_and_minimum(tmp_path, capsys):
    rc, _, err = cli(capsys, "train", "--model", "xception", "--out", tmp_path / "r")
    assert rc == 2
    assert "(16 px) is below xception's minimum input of 71x71: use --img-size >= 71" in err


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=float("inf")), "--lr inf: must be a finite number > 0"),
    (dict(lr=0.0), "--lr 0.0: must be a finite number > 0"),
    (dict(epochs="ten"), "epochs='ten': expected an int"),
    (dict(label_smoothing=1.0), "--label-smoothing 1.0: must be in [0, 1)"),
    (dict(augment=1), "augment=1: expected a bool"),
])
def test_config_refuses_impossible_values(kwargs, message):
    with pytest.raises(ValueError) as err:
        TrainConfig(**kwargs)
    assert message in str(err.value)


# --- Ctrl-C ------------------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_is_one_line_that_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--epochs", "6", "--ckpt-every", "3", "--out", str(out), *FAST]
    # A suite started in the background (`cmd &` in a script) runs with SIGINT ignored, and
    # the child would inherit that and train to the end (exit 0): give it the default, as a
    # terminal's Ctrl-C meets it.
    proc = subprocess.Popen([PY, "-m", "dsconv", *args], env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while ckpt.latest_checkpoint(out) is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dsconv train: interrupted at step ")
    assert f"`dsconv train --resume --out {out}`" in lines[0]
    resumed = subprocess.run([PY, "-m", "dsconv", *args, "--resume"], env=_env(),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "model.safetensors").exists()


# --- experiments ---------------------------------------------------------------------------

def test_experiment_refuses_to_mix_runs_of_other_settings(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC)
    out = tmp_path / "ex"
    rc, _, err = cli(capsys, "experiment", "run", spec, "--out", out)
    assert rc == 0, err
    before = (out / "results.csv").read_text()
    spec_json = (out / "spec.json").read_text()
    for flags, diff in ((["--epochs", "2"], "epochs=1 (now 2)"),
                        (["--data", "synthetic:shapes?train=96&test=32"], "data=")):
        rc, out_, err = cli(capsys, "experiment", "run", spec, "--out", out, *flags)
        assert rc == 2 and "made with other settings" in err and diff in err, err
        assert "runs to do" not in out_  # refused before anything trained
    assert (out / "results.csv").read_text() == before
    assert (out / "spec.json").read_text() == spec_json
    # More seeds of the same settings reuse the finished ones.
    rc, out_, err = cli(capsys, "experiment", "run", spec, "--out", out, "--seeds", "2")
    assert rc == 0 and "2 runs to do, 2 finished before" in out_, err
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted(r["epochs"] for r in rows) == ["1"] * 4


def test_quick_and_default_sizes_have_their_own_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "experiment", "run", "residual", "--quick")
    assert rc == 0, err
    assert "experiments/residual-quick/results.csv" in out
    quick = load_spec(find_spec("residual").path).sized("quick")
    default = find_spec("residual")
    plan(default, Path("experiments/residual"))  # the default size starts clean
    with pytest.raises(ValueError, match="made with other settings"):
        plan(default, Path("experiments/residual-quick"))
    plan(quick, Path("experiments/residual-quick"))  # the same settings may resume


def test_interrupted_run_of_an_experiment_resumes_from_its_checkpoint(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC)
    s = load_spec(spec)
    v = s.variants[0]
    assert train_config(s, v, 0, tmp_path).resume is False
    d = tmp_path / "runs" / v["name"] / "seed0" / "checkpoints" / "step-00000001"
    d.mkdir(parents=True)
    (d / "state.pt").write_bytes(b"")
    (d.parent / "latest").write_text(d.name)
    assert train_config(s, v, 0, tmp_path).resume is True


@pytest.mark.parametrize("edit, message", [
    (('seeds = 1', 'seeds = "two"'), "seeds = 'two': expected an int"),
    (("residual = false", "residul = false"), "variant 'plain': unknown option(s) residul"),
    (('epochs = 1', 'epochs = "1"'), "epochs='1': expected an int"),
    (('name = "plain"', 'nme = "plain"'), "[[variants]] number 2 needs a name"),
])
def test_whole_spec_is_checked_before_any_run(edit, message, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY_SPEC.replace(*edit))
    rc, out, err = cli(capsys, "experiment", "run", spec, "--out", tmp_path / "ex")
    assert rc == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "ex" / "runs").exists()


def test_result_records_the_settings_it_was_made_with(tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC.replace('[[variants]]\nname = "plain"\n'
                                      'model_args = { residual = false }\n', "")
                    .replace('[[checks]]\nbetter = "residual"\nworse = "plain"\n', ""))
    assert cli(capsys, "experiment", "run", spec, "--out", tmp_path)[0] == 0
    row = json.loads((tmp_path / "runs/residual/seed0/result.json").read_text())
    assert row["run"]["epochs"] == 1 and row["run"]["img_size"] == 12
    assert row["run"]["data"] == "synthetic:shapes?train=64&test=32"


# --- precision: chosen by what the CPU can do, kept on resume ------------------------------

def test_amp_auto_on_cpu_follows_native_bf16_and_a_measured_step(tmp_path):
    from dsconv.train.precision import choose_precision, cpu_bf16_flags

    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu, bf16_flags=[]).dtype is None  # emulated: fp32
    fast = {None: 1.0, torch.bfloat16: 0.4}
    slow = {None: 1.0, torch.bfloat16: 0.95}
    picked = choose_precision("auto", cpu, fast.__getitem__, bf16_flags=["avx512_bf16"])
    assert picked.dtype == torch.bfloat16 and "fp32 1.000 s, bf16 0.400 s" in picked.reason
    assert choose_precision("auto", cpu, slow.__getitem__, ["avx512_bf16"]).dtype is None
    assert choose_precision("bf16", cpu, bf16_flags=[]).dtype == torch.bfloat16  # as asked
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n")
    assert cpu_bf16_flags(info) == ["avx512_bf16"]
    info.write_text("flags\t\t: fpu avx2 avx512f avx512bw\n")
    assert cpu_bf16_flags(info) == []


def test_the_run_says_its_precision_and_a_resume_keeps_it(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--epochs", "1", "--out", str(out), "--img-size", "8", "--workers", "0",
            "--amp", "bf16"]
    r = subprocess.run([PY, "-m", "dsconv", *args], env=_env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "precision: bf16 (--amp bf16)" in r.stdout
    assert json.loads((out / "summary.json").read_text())["precision"] == "bf16"
    state = ckpt.read_state(ckpt.latest_checkpoint(out))
    assert state["amp"] == "bf16"
    from dsconv.train.setup import pick_precision

    cfg = TrainConfig(amp="auto", progress=False)
    kept = pick_precision(cfg, state, None, {}, 1, torch.device("cpu"), 0)
    assert kept.dtype == torch.bfloat16 and "as the run began" in kept.reason


def test_default_out_is_per_data_set_so_the_readme_sequence_does_not_collide():
    assert TrainConfig().out == "runs/digits"
    assert TrainConfig(data="aeon:BasicMotions").out == "runs/BasicMotions"
    assert TrainConfig(data="synthetic:shapes?train=64").out == "runs/shapes"
    assert TrainConfig(data="/data/ArrowHead_TRAIN.ts").out == "runs/ArrowHead"
    assert TrainConfig(data="photos/", out="mine").out == "mine"
