"""Series accuracy against the published figures and against MiniRocket, in one run.

For each data set: aeon's `MiniRocketClassifier` (the peer a time-series user runs first: no
deep learning) on the same standardised arrays dsconv trains on, timed train + predict, over
the same seeds; then for each model x seed `dsconv train --data aeon:NAME --model M --seed S`
with the defaults (the 'series' recipe), scored on the published TEST split, and the ensemble
of the seeds' networks (`dsconv ensemble`, probabilities averaged), as the published
InceptionTime and LITETime are ensembles of five. Prints a Markdown table with the published
figures beside.

    python benchmarks/series.py --seeds 5                  # the issue's table (long: hours)
    python benchmarks/series.py --seeds 1 --datasets GunPoint --models lite
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dsconv.cost import profile
from dsconv.data import load_series
from dsconv.models import create_model
from dsconv.train import TrainConfig, evaluate, train
from dsconv.utils import tune_allocator
from dsconv.weights import combine_model_files

# Published default-split accuracies (../shared/README): InceptionTime (an ensemble of five),
# LITE (one network), LITETime (five); MiniRocket's are means over 30 resamples, where known.
PUBLISHED = {
    "BasicMotions": dict(inceptiontime=1.000, lite=0.95, litetime=0.95),
    "JapaneseVowels": dict(inceptiontime=0.992, lite=0.968, litetime=0.973),
    "GunPoint": dict(inceptiontime=1.000, lite=0.997, litetime=1.0, minirocket=0.992),
    "ArrowHead": dict(inceptiontime=0.846, lite=0.822, litetime=0.84, minirocket=0.881),
    "ItalyPowerDemand": dict(inceptiontime=0.965, lite=0.969, litetime=0.967, minirocket=0.960),
}


def minirocket(dataset: str, seed: int) -> dict:
    """aeon's MiniRocketClassifier on dsconv's arrays of the published split."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    train_set, test_set, _ = load_series(f"aeon:{dataset}")
    xtr, ytr = train_set.x.double().numpy(), np.array(train_set.targets)
    xte, yte = test_set.x.double().numpy(), np.array(test_set.targets)
    t0 = time.perf_counter()
    clf = MiniRocketClassifier(random_state=seed).fit(xtr, ytr)
    acc = float((clf.predict(xte) == yte).mean())
    return {"acc": acc, "train_s": time.perf_counter() - t0}


def run(dataset: str, model: str, seed: int, epochs: int | None, out: Path) -> dict:
    t0 = time.perf_counter()
    s = train(TrainConfig(data=f"aeon:{dataset}", model=model, seed=seed, out=str(out),
                          epochs=epochs, progress=False, workers=0, overwrite=True))
    return {"acc": s["final"]["val_top1"], "train_s": time.perf_counter() - t0,
            "steps": s["steps"], "path": str(out / "model.safetensors")}


def ensemble_acc(dataset: str, paths: list[str], out: Path) -> float:
    """The test accuracy of the members' averaged probabilities, through the product's path."""
    combine_model_files(paths, out)
    return evaluate(str(out), data=f"aeon:{dataset}")["top1"]


def cost(dataset: str, model: str) -> tuple[int, int]:
    train_set, _, prep = load_series(f"aeon:{dataset}")
    m = create_model(model, in_chans=prep.channels, num_classes=len(train_set.classes))
    p = profile(m, (prep.length,))
    return p.trainable_params, p.macs


def mean_sd(a: list[float]) -> str:
    return f"{statistics.mean(a):.3f} ± {statistics.stdev(a) if len(a) > 1 else 0.0:.3f}"


def published(dataset: str, model: str, ensemble: bool) -> str:
    pub = PUBLISHED.get(dataset, {})
    if model.startswith("MiniRocket"):
        return f"MiniRocket {pub['minirocket']:.3f} (30 resamples)" if "minirocket" in pub else "-"
    if model.startswith("lite"):
        return f"LITE{'Time' if ensemble else ''} {pub['litetime' if ensemble else 'lite']:.3f}"
    return f"InceptionTime (5) {pub['inceptiontime']:.3f}" if pub else ""


def table(rows: list[dict]) -> None:
    print("\n| data set | model | params | M MACs | steps | single network, mean ± std (n) | "
          "ensemble of n | train s (one network) | published |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, n = r["accs"], len(r["accs"])
        ens = f"{r['ensemble']:.3f}" if r.get("ensemble") is not None else "-"
        pub = published(r["dataset"], r["model"], False)
        ens_pub = published(r["dataset"], r["model"], True)
        if r.get("ensemble") is not None and ens_pub != pub:
            pub += " / " + ens_pub
        params = f"{r['params']:,}" if r["params"] else "-"
        macs = f"{r['macs'] / 1e6:.1f}" if r["macs"] else "-"
        print(f"| {r['dataset']} | {r['model']} | {params} | {macs} | {r.get('steps', '-')} | "
              f"{mean_sd(a)} ({n}) | {ens} | {r['train_s']:.1f} | {pub} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(PUBLISHED))
    ap.add_argument("--models", nargs="+", default=["xceptiontime", "inceptiontime", "lite"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None,
                    help="default: the 'series' recipe's (at least 1000 steps)")
    ap.add_argument("--no-minirocket", action="store_true")
    ap.add_argument("--work", default=None, help="keep the trained models here (default: temp)")
    ap.add_argument("--json", default=None, help="also write the raw rows here (appended to "
                                                 "as each row ends)")
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    tune_allocator()  # as `dsconv train` does: the training times are the CLI's
    work = Path(args.work or tempfile.mkdtemp(prefix="dsconv-series-"))
    rows = []
    for ds in args.datasets:
        if not args.no_minirocket:
            runs = [minirocket(ds, s) for s in range(args.seeds)]
            rows.append({"dataset": ds, "model": "MiniRocket (aeon)", "params": 0, "macs": 0,
                         "accs": [r["acc"] for r in runs],
                         "train_s": statistics.mean(r["train_s"] for r in runs)})
            print(json.dumps(rows[-1]), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
        for model in args.models:
            params, macs = cost(ds, model)
            runs = [run(ds, model, s, args.epochs, work / ds / model / f"seed{s}")
                    for s in range(args.seeds)]
            ens = (ensemble_acc(ds, [r["path"] for r in runs],
                                work / ds / model / "ensemble.safetensors")
                   if len(runs) > 1 else None)
            rows.append({"dataset": ds, "model": model, "params": params, "macs": macs,
                         "steps": runs[0]["steps"], "accs": [r["acc"] for r in runs],
                         "ensemble": ens,
                         "train_s": statistics.mean(r["train_s"] for r in runs)})
            print(json.dumps(rows[-1]), flush=True)
            if args.json:  # after every row: a stopped run keeps what it measured
                Path(args.json).write_text(json.dumps(rows, indent=1))
    table(rows)


if __name__ == "__main__":
    main()
