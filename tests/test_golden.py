"""Every registered model reproduces its seeded golden outputs (tests/golden/models.json)."""

import json

import pytest
import torch
from golden_models import GOLDEN, golden_outputs

import dsconv

EXPECTED = json.loads(GOLDEN.read_text())


def test_every_registered_model_has_a_golden_entry():
    missing = sorted(set(dsconv.list_models(ensembles=False)) - set(EXPECTED))
    assert not missing, f"no golden outputs for {missing}: run python tests/golden_models.py"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_outputs(name):
    got, want = golden_outputs(name), EXPECTED[name]
    assert got["shape"] == want["shape"]
    assert got["param_sum"] == pytest.approx(want["param_sum"], rel=1e-9, abs=1e-6)
    torch.testing.assert_close(torch.tensor(got["first"]), torch.tensor(want["first"]),
                               rtol=1e-4, atol=1e-8)
    for key in ("sum", "abs_sum"):
        assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-8), key
