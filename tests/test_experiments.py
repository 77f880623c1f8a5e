"""`dsconv experiment`: the nine claims, the cost formula in results.csv, every --quick run
writing a report and a plot, resuming without redoing finished runs, the verdict rule, and the
procedural data set the training claims run on."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from dsconv.cli import main
from dsconv.data import load_synthetic, shapes
from dsconv.experiments import Check, list_experiments, load_spec
from dsconv.experiments.verdict import FAILS, HOLDS, UNSURE, judge

CLAIMS = ["cost", "separable-vs-standard", "mid-activation", "residual", "order", "spectrum",
          "width-resolution", "seq-separable", "series-separable"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_names_the_nine_claims(capsys):
    rc, out, _ = cli(capsys, "experiment", "list")
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines()] == CLAIMS
    assert [s.name for s in list_experiments()] == CLAIMS


def test_cost_ratio_in_results_equals_the_formula(tmp_path, capsys):
    rc, out, err = cli(capsys, "experiment", "run", "cost", "--quick", "--out", tmp_path)
    assert rc == 0, err
    rows = {r["variant"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    r = rows["layer 728->728 3x3 @ 19"]
    assert float(r["sep_macs"]) / float(r["std_macs"]) == pytest.approx(1 / 728 + 1 / 9,
                                                                          rel=1e-12)
    assert (tmp_path / "cost.png").stat().st_size > 0
    assert "**Verdict at this scale:** holds" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", [c for c in CLAIMS[1:] if c != "seq-separable"])
# (seq-separable needs --data: tested apart)
def test_quick_run_writes_report_and_plots(name, tmp_path, capsys):
    rc, out, err = cli(capsys, "experiment", "run", name, "--quick", "--out", tmp_path)
    assert rc == 0, err
    spec = load_spec(f"{list_experiments()[CLAIMS.index(name)].path}").sized("quick")
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert sorted(r["variant"] for r in rows) == sorted(spec.variant_names())
    report = (tmp_path / "report.md").read_text()
    assert "**Verdict at this scale:**" in report and spec.claim in report
    verdict = next(line for line in report.splitlines() if line.startswith("**Verdict"))
    for v in spec.variants:  # the scale names the models that ran, not a default
        assert v.get("model", spec.base.get("model", "xception_mini")) in verdict, verdict
    assert list(tmp_path.glob("*.png"))
    # The report is rebuilt from the folder alone.
    (tmp_path / "report.md").unlink()
    assert cli(capsys, "experiment", "report", tmp_path)[0] == 0
    assert (tmp_path / "report.md").exists()


def test_interrupted_experiment_resumes_without_redoing_finished_runs(tmp_path, capsys):
    args = ["experiment", "run", "order", "--quick", "--out", tmp_path]
    assert cli(capsys, *args, "--jobs", "2")[0] == 0  # two runs in two processes
    first = tmp_path / "runs" / "depthwise_first" / "seed0" / "result.json"
    second = tmp_path / "runs" / "pointwise_first" / "seed0"
    before = first.stat().st_mtime_ns, json.loads(first.read_text())
    # Interrupted after its last checkpoint, before the result was written.
    (second / "result.json").unlink()
    (second / "model.safetensors").unlink()
    rc, out, err = cli(capsys, *args)
    assert rc == 0, err
    assert "1 runs to do, 1 finished before" in out
    assert (first.stat().st_mtime_ns, json.loads(first.read_text())) == before
    assert (second / "result.json").exists() and (second / "model.safetensors").exists()


def test_verdict_rule():
    def rows(a, b, metric="best_acc"):
        return ([{"variant": "a", metric: v, "epochs": 10} for v in a] +
                [{"variant": "b", metric: v, "epochs": 10} for v in b])

    better = Check(better="a", worse="b")
    assert judge(better, rows([0.80, 0.81, 0.82], [0.70, 0.71, 0.72]))["verdict"] == HOLDS
    assert judge(better, rows([0.70, 0.71, 0.72], [0.80, 0.81, 0.82]))["verdict"] == FAILS
    assert judge(better, rows([0.70, 0.80, 0.75], [0.74, 0.76, 0.72]))["verdict"] == UNSURE
    assert judge(better, rows([0.9], [0.1]))["verdict"] == UNSURE  # one seed: no noise estimate
    lower = Check(better="a", worse="b", metric="epochs_to_target")
    # Never reaching the target counts as one epoch past the end (11 here).
    assert judge(lower, rows([2, 2, 3], [6, 7, None], "epochs_to_target"))["verdict"] == HOLDS
    similar = Check(similar=["a", "b"], tolerance=0.02)
    assert judge(similar, rows([0.80, 0.81], [0.81, 0.80]))["verdict"] == HOLDS
    assert judge(similar, rows([0.90, 0.91], [0.70, 0.71]))["verdict"] == FAILS
    # "Matches or beats": a win of any size holds (where `similar` would fail), a small loss
    # within the tolerance holds, a larger one beyond noise fails.
    no_worse = Check(no_worse=["a", "b"], metric="best_bleu", tolerance=0.5)
    assert judge(no_worse, rows([30.0, 30.2], [25.0, 25.1], "best_bleu"))["verdict"] == HOLDS
    assert judge(no_worse, rows([29.8, 29.9], [30.1, 30.2], "best_bleu"))["verdict"] == HOLDS
    assert judge(no_worse, rows([27.0, 27.1], [30.1, 30.2], "best_bleu"))["verdict"] == FAILS
    with pytest.raises(ValueError, match="one of"):
        Check(no_worse=["a", "b"], better="a", worse="b")


def test_a_claim_without_data_of_its_own_asks_for_it(capsys):
    """seq-separable ships no parallel text: run names what --data must be."""
    rc, _, err = cli(capsys, "experiment", "run", "seq-separable", "--quick")
    assert rc == 2 and "needs --data: parallel text PREFIX.SRC-TGT" in err


def test_bad_specs_say_what_is_wrong(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nclaim = "c"\n[[variants]]\nname = "a"\n'
                   '[[checks]]\nbetter = "a"\nworse = "zzz"\n')
    with pytest.raises(ValueError, match="zzz"):
        load_spec(bad)
    bad.write_text('name = "x"\nclaim = "c"\nepochs = 3\n')
    with pytest.raises(ValueError, match="unknown keys"):
        load_spec(bad)
    rc, _, err = cli(capsys, "experiment", "run", "no-such-claim")
    assert rc == 2 and "mid-activation" in err
    bad.write_text('name = "x"\nclaim = "c"\n[[variants]]\nname = "a"\nlr_typo = 1\n')
    rc, _, err = cli(capsys, "experiment", "run", bad, "--out", tmp_path / "o")
    assert rc == 2 and "lr_typo" in err
    bad.write_text('name = "x"\nclaim = "c"\n[[variants]]\nname = "a"\nensemble = 2\n')
    rc, _, err = cli(capsys, "experiment", "run", bad, "--out", tmp_path / "o")
    assert rc == 2 and "variant 'a' trains an ensemble of 2: an experiment compares" in err


def test_synthetic_shapes_are_seeded_balanced_and_checked():
    tr, te = shapes(16, 200, 50, fresh=False)
    again, _ = shapes(16, 200, 50, fresh=False)
    assert tr.x.shape == (200, 3, 16, 16) and te.x.shape == (50, 3, 16, 16)
    assert torch.equal(tr.x, again.x) and torch.equal(tr.y, again.y)
    assert torch.bincount(tr.y).tolist() == [20] * 10
    assert tr.x.min() >= -1 and tr.x.max() <= 1
    assert not torch.equal(tr.x[:50], te.x)  # train and test come from different streams
    # The default stream draws new images every epoch, reproducibly, with fixed labels.
    stream, _ = shapes(16, 200, 50)
    assert torch.bincount(stream.y).tolist() == [20] * 10
    x0, y0, _ = stream[7]
    stream.epoch = 1
    x1, y1, _ = stream[7]
    assert y0 == y1 and not torch.equal(x0, x1)
    stream.epoch = 0
    assert torch.equal(stream[7][0], x0)
    with pytest.raises(ValueError, match="train, test, seed or fresh"):
        load_synthetic("synthetic:shapes?trian=5", 16)
    with pytest.raises(ValueError, match="synthetic:shapes"):
        load_synthetic("synthetic:circles", 16)
