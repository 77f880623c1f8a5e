"""The command line: models, summary, cost, and its one-line errors."""

import json

import torch

from dsconv.cli import main


def test_models_lists_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "xception " in out and "mobilenet_v1 " in out and "xception_mini" in out


def test_summary_totals(capsys):
    assert main(["summary", "xception"]) == 0
    out = capsys.readouterr().out
    assert "Trainable params: 22,855,952" in out
    assert "Non-trainable params: 54,528" in out
    assert "Multiply-adds: 8,357,403,496" in out


def test_summary_json(capsys):
    assert main(["summary", "mobilenet_v1", "--input", "160", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["trainable_params"] == 4_231_976
    assert data["input_shape"] == [3, 160, 160]


def test_cost_compares_with_formula(capsys):
    assert main(["cost", "--in", "32", "--out", "64", "--kernel", "3", "--size", "8",
                 "--json", "--time", "--batch", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["standard"]["macs"] == data["standard"]["formula_macs"] == 9 * 32 * 64 * 64
    assert abs(data["ratio"] - (1 / 64 + 1 / 9)) < 1e-12
    # The ratio printed is the ratio of the two latencies measured, in the threads reported.
    assert data["time_ratio"] == data["separable"]["ms"] / data["standard"]["ms"]
    assert data["threads"] == torch.get_num_threads()


def test_unknown_model_is_one_line_error(capsys):
    assert main(["summary", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet50'" in err and "xception" in err
