"""The command line: models, summary, cost, and its one-line errors."""

import argparse
import json
import re
from pathlib import Path

import pytest
import torch

import dsconv
from dsconv.cli import build_parser, main


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


def test_models_pattern_lists_the_matching_names(capsys):
    xs = [n for n in dsconv.list_models() if n.startswith("xception")]
    assert dsconv.list_models("xception*") == xs and "xception_mini" in xs
    assert dsconv.list_models(["mobilenet*", "inceptiontime"]) == \
        ["inceptiontime", "mobilenet_v1", "mobilenet_v1_standard"]
    assert dsconv.list_models("xception") == ["xception"]  # no wildcard: that name only
    assert main(["models", "*time*"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["inceptiontime", "litetime", "xceptiontime", "xceptiontime_standard"]
    assert main(["models", "resnet*"]) == 2
    err = capsys.readouterr().err
    assert "no model matches 'resnet*'" in err and "xception_mini" in err


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"dsconv {dsconv.__version__}\n"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert re.search(r'^version = "(.+)"', pyproject, re.M)[1] == dsconv.__version__


def all_parsers(parser, name="dsconv"):
    """(command, parser) for the parser and every sub-command under it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from all_parsers(p, f"{name} {sub}")


def test_help_shows_each_default_once():
    parser = build_parser()
    text = " ".join(parser._subparsers._group_actions[0].choices["train"].format_help().split())
    assert "(default: None)" not in text
    assert "(default: 15 for images, 100 for series, 12 for text)" in text
    assert "for text) (default" not in text  # the help's own default, not another after it
    assert "(default: 1)" in text  # what the help does not say is still shown
    quiet = text.split("--quiet ")[-1]
    assert quiet.startswith("no progress bar") and "default" not in quiet  # off unless given
    for command, p in all_parsers(parser):
        fmt = p._get_formatter()
        for action in p._actions:
            shown = fmt._get_help_string(action) if action.help else ""
            where = f"{command} {action.option_strings or action.dest}: {shown!r}"
            # said once: by the help text, or appended by the formatter
            assert shown.replace("%(default)s", "D").count("(default") <= 1, where
            if "%(default)s" in shown:
                assert action.default not in (None, "", []), where
                assert not isinstance(action, argparse._StoreConstAction), where
