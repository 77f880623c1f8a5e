"""Seeded golden outputs per registered model (torchvision's `_assert_expected` idea).

A refactor that changes any number a model computes (init order, BN eps or momentum, padding,
block wiring) changes these. Regenerate on purpose only: `python tests/golden_models.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

GOLDEN = Path(__file__).with_name("golden") / "models.json"


TOKENS_CASE = dict(vocab_size=50, hidden=16, enc_layers=2, dec_layers=2)


def golden_case(name: str) -> tuple[dict, tuple[int, ...]]:
    """(config overrides, input shape) that keep each model small enough for the suite; a
    translation model's shape is (batch, tokens) of both source and target."""
    import dsconv

    if dsconv.model_info(name).tokens:
        return dict(TOKENS_CASE), (2, 11)
    kw: dict = {"num_classes": 7}
    if name in ("xception", "xception_standard", "xception1d"):
        kw["middle_repeats"] = 1
    cfg = dsconv.create_model(name, **kw).cfg
    dims = getattr(cfg, "dims", 2)
    size = max(getattr(cfg, "min_input_size", 32), 32)
    return kw, (2, cfg.in_chans, *([size + 3] * dims))


def golden_inputs(name: str, shape: tuple[int, ...], g: torch.Generator) -> tuple:
    """A seeded model input: a batch of values, or (source, target) token ids."""
    import dsconv

    if dsconv.model_info(name).tokens:
        vocab = TOKENS_CASE["vocab_size"]
        return tuple(torch.randint(4, vocab, shape, generator=g) for _ in range(2))
    return (torch.randn(shape, generator=g),)


def golden_outputs(name: str) -> dict:
    """Seeded build -> one training-mode pass (moves BN statistics) -> eval logits."""
    import dsconv

    kw, shape = golden_case(name)
    torch.manual_seed(0)
    model = dsconv.create_model(name, **kw)
    g = torch.Generator().manual_seed(1)
    x1, x2 = golden_inputs(name, shape, g), golden_inputs(name, shape, g)
    with torch.no_grad():
        model.train()(*x1)
        y = model.eval()(*x2)
    params = sum(p.double().sum().item() for p in model.parameters())
    first = y.reshape(y.shape[0], -1)[0, :7]  # (N, classes) -> y[0, :7], as ever
    return {"shape": list(y.shape), "first": first.tolist(),
            "sum": y.double().sum().item(), "abs_sum": y.double().abs().sum().item(),
            "param_sum": params}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parents[1] / "src"))
    import dsconv

    GOLDEN.parent.mkdir(exist_ok=True)
    # Existing entries are kept: a change of their numbers must be a decision, not a side effect.
    data = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    data.update({n: golden_outputs(n) for n in dsconv.list_models(ensembles=False)
                 if n not in data})
    GOLDEN.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {GOLDEN} ({len(data)} models)")
