"""An experiment's report.md and plots, rebuilt from its folder alone (results.csv, spec.json and
the runs' metrics.csv), and the claims table across experiments (docs/claims.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..utils import atomic_write_text
from .runner import read_history, run_dir
from .spec import Check, Spec
from .verdict import HOLDS, judge, overall, summarize, values


def read_folder(out: str | Path) -> tuple[Spec, list[dict]]:
    """(the spec as run, the result rows) of an experiment folder."""
    out = Path(out)
    if not (out / "spec.json").exists():
        raise ValueError(f"{out} holds no experiment (no spec.json): run `dsconv experiment "
                         "run NAME --out DIR` first")
    raw = json.loads((out / "spec.json").read_text())
    raw["checks"] = [Check(**c) for c in raw.get("checks", [])]
    spec = Spec(**raw)
    rows: list[dict] = []
    if (out / "results.csv").exists():
        with open(out / "results.csv") as fh:
            rows = list(csv.DictReader(fh))
    return spec, rows


def _curves(spec: Spec, out: Path) -> dict[str, list[list[float]]]:
    """variant -> per-seed validation-accuracy curves (one list per finished seed)."""
    curves: dict[str, list[list[float]]] = {}
    for v in spec.variant_names():
        for seed in range(spec.seeds):
            d = run_dir(out, v, seed)
            if (d / "metrics.csv").exists():
                acc = [r["val_top1"] for r in read_history(d) if r.get("val_top1") is not None]
                curves.setdefault(v, []).append(acc)
    return curves


def plot_training(spec: Spec, rows: list[dict], out: Path) -> list[str]:
    """curves.png (mean validation accuracy per epoch, min-max band over seeds) and
    acc_vs_macs.png (best accuracy against multiply-adds, log scale). Returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for v, runs in _curves(spec, out).items():
        n = min(len(r) for r in runs)
        a = np.array([r[:n] for r in runs])
        ep = np.arange(1, n + 1)
        ax.plot(ep, a.mean(0), label=f"{v} (n={len(runs)})")
        ax.fill_between(ep, a.min(0), a.max(0), alpha=0.2)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=spec.name)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=100)
    names.append("curves.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for v in spec.variant_names():
        macs, acc = values(rows, v, "macs"), values(rows, v, "best_acc")
        if acc:
            s = summarize(acc)
            ax.errorbar(macs[0], s["mean"], yerr=s["std"], fmt="o", capsize=3, label=v)
    ax.set_xscale("log")
    ax.set(xlabel="multiply-adds per sample (log)", ylabel="best validation accuracy",
           title=f"{spec.name}: accuracy vs cost")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "acc_vs_macs.png", dpi=100)
    plt.close("all")
    return names + ["acc_vs_macs.png"]


def plot_cost(rows: list[dict], out: Path) -> list[str]:
    """cost.png: per layer and model, the separable/standard ratio of multiply-adds, of
    parameters and (when measured) of time, on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [r["variant"].replace("layer ", "").replace("model ", "") for r in rows]
    series = [("multiply-adds", "macs_ratio"), ("parameters", "param_ratio"),
              ("time", "time_ratio")]
    series = [(n, k) for n, k in series if any(r.get(k) not in (None, "") for r in rows)]
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 1.1), 4))
    x, width = np.arange(len(rows)), 0.8 / len(series)
    for i, (name, key) in enumerate(series):
        vals = [float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows]
        ax.bar(x + i * width, vals, width, label=name)
    ax.set_xticks(x + width * (len(series) - 1) / 2, labels, rotation=30, ha="right",
                  fontsize=7)
    ax.set_yscale("log")
    ax.set(ylabel="separable / standard", title="cost: separable against regular")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "cost.png", dpi=100)
    plt.close(fig)
    return ["cost.png"]


def _fmt(s: dict[str, float], digits: int = 3) -> str:
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}" if s["n"] else "-"


def _epochs(rows: list[dict], variant: str) -> str:
    """Epochs to the target over seeds; seeds that never reached it are counted and said."""
    raw = [r.get("epochs_to_target") for r in rows if r["variant"] == variant]
    never = sum(v in (None, "") for v in raw)
    if never == len(raw):
        return "never"
    text = _fmt(summarize(values(rows, variant, "epochs_to_target")), 1)
    return f"{text} ({never} never)" if never else text


def training_section(spec: Spec, rows: list[dict]) -> tuple[list[str], str]:
    """(Markdown lines of the variants table and checks, the claim's overall verdict)."""
    # Translation runs also have validation BLEU (their acc is next-token accuracy).
    bleu = any(r.get("best_bleu") not in (None, "") for r in rows)
    head = " best BLEU | final BLEU |" if bleu else ""
    lines = [f"| variant | n | params | M MACs | best acc | final acc |{head} epochs to "
             f"{spec.target:g} | train s | infer ms (batch 32) |",
             "|---|---|---|---|---|---|---|---|---|" + "---|---|" * bleu]
    for v in spec.variant_names():
        acc = values(rows, v, "best_acc")
        if not acc:
            lines.append(f"| {v} | 0 | - | - | - | - | - | - | - |" + " - | - |" * bleu)
            continue
        scores = (f" {_fmt(summarize(values(rows, v, 'best_bleu')), 2)} | "
                  f"{_fmt(summarize(values(rows, v, 'final_bleu')), 2)} |") if bleu else ""
        lines.append(
            f"| {v} | {len(acc)} | {int(values(rows, v, 'params')[0]):,} | "
            f"{values(rows, v, 'macs')[0] / 1e6:.2f} | {_fmt(summarize(acc))} | "
            f"{_fmt(summarize(values(rows, v, 'final_acc')))} |{scores} "
            f"{_epochs(rows, v)} | "
            f"{summarize(values(rows, v, 'train_s'))['mean']:.0f} | "
            f"{summarize(values(rows, v, 'infer_ms'))['mean']:.1f} |")
    results = [judge(c, rows) for c in spec.checks]
    lines += ["", "| check | difference in the claimed direction (2 SE) | verdict |",
              "|---|---|---|"]
    lines += [f"| {r['check']} | {r['diff']:+.4g} ({2 * r['se']:.2g}) | {r['verdict']} |"
              for r in results]
    return lines, overall([r["verdict"] for r in results])


def _num(r: dict, key: str, fmt: str) -> str:
    v = r.get(key)
    return "-" if v in (None, "") else format(float(v), fmt)


def cost_section(rows: list[dict]) -> tuple[list[str], str]:
    """The cost claim: counted vs formula ratios, absolute figures, and the time ratio. Holds
    when every layer's counted multiply-adds equal the formulas and their ratio 1/N + 1/Dk²."""
    lines = ["| layer / model | standard params | separable params | standard MACs | separable "
             "MACs | MACs ratio | 1/N + 1/Dk² | params ratio | time ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    ok = bool(rows)
    for r in rows:
        if r.get("formula_ratio") not in (None, ""):
            ok &= abs(float(r["macs_ratio"]) - float(r["formula_ratio"])) < 1e-9
            ok &= str(r.get("formula_matches")) == "True"
        lines.append(f"| {r['variant']} | {_num(r, 'std_params', ',.0f')} | "
                     f"{_num(r, 'sep_params', ',.0f')} | {_num(r, 'std_macs', ',.0f')} | "
                     f"{_num(r, 'sep_macs', ',.0f')} | {_num(r, 'macs_ratio', '.4f')} | "
                     f"{_num(r, 'formula_ratio', '.4f')} | {_num(r, 'param_ratio', '.4f')} | "
                     f"{_num(r, 'time_ratio', '.3f')} |")
    return lines, HOLDS if ok else "does not hold"


def build_report(out: str | Path) -> dict[str, Any]:
    """Write out/report.md (and the plots) from the folder; returns {'name', 'claim',
    'verdict', 'scale', 'report', 'plots', 'lines'} ('lines': the tables, for claims_table)."""
    out = Path(out)
    spec, rows = read_folder(out)
    if spec.kind == "cost":
        lines, verdict = cost_section(rows)
        plots = plot_cost(rows, out) if rows else []
    else:
        lines, verdict = training_section(spec, rows)
        plots = plot_training(spec, rows, out) if rows else []
    seeds = sorted({int(r["seed"]) for r in rows if "seed" in r})
    size = f" at {spec.base['img_size']} px" if "img_size" in spec.base else ""
    # A variant may name its own model (the series twins do): the scale names what ran.
    models = list(dict.fromkeys(v.get("model", spec.base.get("model", "xception_mini"))
                                for v in spec.variants))
    epochs = spec.base.get("epochs")
    budget = f"{epochs} epoch{'s' * (epochs != 1)}" if epochs else "the recipe's default budget"
    scale = (f"{len(seeds)} seeds, {', '.join(models)}{size} on "
             f"{spec.base.get('data', 'digits')}, {budget}"
             if spec.kind == "train" else
             "counted from forward passes, times at batch 8 on this machine")
    head = [f"# {spec.name}", "", f"**Claim:** {spec.claim}", "",
            f"**Source:** {spec.source}", "", f"**The paper:** {spec.paper}", "",
            f"**Verdict at this scale:** {verdict} ({scale}).", "",
            f"Reproduce: `dsconv experiment run {spec.name} --out DIR`", ""]
    body = head + lines + [""] + [f"![{p}]({p})" for p in plots]
    atomic_write_text(out / "report.md", "\n".join(body) + "\n")
    return {"name": spec.name, "claim": spec.claim, "verdict": verdict, "scale": scale,
            "report": str(out / "report.md"), "plots": plots, "lines": lines}


def claims_table(reports: list[dict[str, Any]]) -> str:
    """docs/claims.md: every claim, what was measured, the verdict and the command."""
    parts = ["# The claims, measured", "",
             "Measured with `dsconv experiment run all --out experiments` and regenerated by "
             "`dsconv experiment report experiments --claims docs/claims.md`. Each section is "
             "an experiment's report in short; a check holds when the mean difference over "
             "seeds in the claimed direction exceeds twice its standard error, does not hold "
             "when it does the other way, and is inconclusive in between.", "",
             "| claim | verdict at this scale | scale | reproduce |", "|---|---|---|---|"]
    parts += [f"| {r['name']}: {r['claim']} | **{r['verdict']}** | {r['scale']} | "
              f"`dsconv experiment run {r['name']}` |" for r in reports]
    for r in reports:
        parts += ["", f"## {r['name']}", "", f"{r['claim']} Verdict: **{r['verdict']}**.", ""]
        parts += r["lines"]
    return "\n".join(parts) + "\n"
