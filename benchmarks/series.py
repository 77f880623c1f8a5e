"""Series accuracy against the published figures: dsconv's 1-D models on aeon's bundled sets.

For each data set x model x seed: `dsconv train --data aeon:NAME --model M --seed S` with the
defaults (the 'series' recipe, 100 epochs), then the final accuracy on the published TEST
split, parameters, multiply-adds per series and training time. Prints a Markdown table of
mean ± std over seeds next to InceptionTime's published accuracy.

    python benchmarks/series.py --seeds 5            # the issue's goal: 5 seeds (long)
    python benchmarks/series.py --seeds 1 --datasets BasicMotions GunPoint
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from dsconv.cost import profile
from dsconv.data import load_series
from dsconv.models import create_model
from dsconv.train import TrainConfig, train

# InceptionTime's default-split result | 30-resample bake-off mean (shared/README).
PUBLISHED = {"BasicMotions": (1.000, 1.000), "JapaneseVowels": (0.992, None),
             "GunPoint": (1.000, 0.995), "ArrowHead": (0.846, 0.880),
             "ItalyPowerDemand": (0.965, 0.960)}


def run(dataset: str, model: str, seed: int, epochs: int | None) -> dict:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        s = train(TrainConfig(data=f"aeon:{dataset}", model=model, seed=seed, out=out,
                              epochs=epochs, progress=False, workers=0))
        return {"acc": s["final"]["val_top1"], "train_s": time.perf_counter() - t0}


def cost(dataset: str, model: str) -> tuple[int, int]:
    train_set, _, prep = load_series(f"aeon:{dataset}")
    m = create_model(model, in_chans=prep.channels, num_classes=len(train_set.classes))
    p = profile(m, (prep.length,))
    return p.trainable_params, p.macs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(PUBLISHED))
    ap.add_argument("--models", nargs="+",
                    default=["xceptiontime", "xceptiontime_standard", "inceptiontime"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's (100)")
    ap.add_argument("--json", default=None, help="also write the raw rows here")
    args = ap.parse_args()
    rows = []
    for ds in args.datasets:
        for model in args.models:
            params, macs = cost(ds, model)
            runs = [run(ds, model, s, args.epochs) for s in range(args.seeds)]
            accs = [r["acc"] for r in runs]
            rows.append({"dataset": ds, "model": model, "params": params, "macs": macs,
                         "accs": accs, "train_s": statistics.mean(r["train_s"] for r in runs)})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| data set | model | params | M MACs | accuracy (mean ± std, n) | train s | "
          "InceptionTime published |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        a = r["accs"]
        sd = statistics.stdev(a) if len(a) > 1 else 0.0
        pub = " / ".join(f"{v:.3f}" for v in PUBLISHED.get(r["dataset"], ()) if v is not None)
        print(f"| {r['dataset']} | {r['model']} | {r['params']:,} | {r['macs'] / 1e6:.1f} | "
              f"{statistics.mean(a):.3f} ± {sd:.3f} ({len(a)}) | {r['train_s']:.0f} | {pub} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
