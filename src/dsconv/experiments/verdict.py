"""Does a claim's direction hold beyond seed noise? Per-variant statistics and check verdicts.

A `better`/`worse` check holds when the mean difference in the claimed direction exceeds twice
its standard error (Welch: sqrt(s_a^2/n_a + s_b^2/n_b)), does not hold when it exceeds that the
other way, and is inconclusive in between (or with a single seed, where there is no noise
estimate). A `similar` check holds when the means are within `tolerance` of each other, does
not hold when they differ by more than the tolerance and beyond noise, else inconclusive. A
`no_worse` check holds when the first is at most `tolerance` behind the second, does not hold
when it is further behind beyond noise, else inconclusive.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .spec import METRICS, Check

HOLDS, FAILS, UNSURE = "holds", "does not hold", "inconclusive"


def values(rows: list[dict], variant: str, metric: str, epochs: int | None = None
           ) -> list[float]:
    """The metric of `variant` over its seeds; epochs_to_target never reached counts as one
    epoch past the run's end (so 'never' is worse than 'at the last epoch')."""
    out = []
    for r in rows:
        if r["variant"] != variant:
            continue
        v = r.get(metric)
        if metric == "epochs_to_target" and v in (None, ""):
            v = float(r.get("epochs") or epochs or 0) + 1
        out.append(float(v))
    return out


def summarize(vals: list[float]) -> dict[str, float]:
    """{'mean', 'std', 'n'} (std 0 for one value)."""
    n = len(vals)
    return {"mean": statistics.fmean(vals) if n else math.nan,
            "std": statistics.stdev(vals) if n > 1 else 0.0, "n": n}


def judge(check: Check, rows: list[dict]) -> dict[str, Any]:
    """The verdict of one check: {'check', 'verdict', 'diff', 'se', 'a', 'b'}."""
    a_name, b_name = check.arms()
    a = summarize(values(rows, a_name, check.metric))
    b = summarize(values(rows, b_name, check.metric))
    higher = METRICS[check.metric]
    diff = (a["mean"] - b["mean"]) * (1 if higher else -1)  # > 0: a is better
    se = math.sqrt(a["std"] ** 2 / max(a["n"], 1) + b["std"] ** 2 / max(b["n"], 1))
    noisy = min(a["n"], b["n"]) < 2
    if check.no_worse is not None:
        text = f"{a_name} matches or beats {b_name} on {check.metric} (within {check.tolerance:g})"
        if diff >= -check.tolerance:
            verdict = HOLDS
        elif not noisy and diff < -check.tolerance - 2 * se:
            verdict = FAILS
        else:
            verdict = UNSURE
    elif check.similar is not None:
        text = f"{a_name} ~ {b_name} on {check.metric} (within {check.tolerance:g})"
        if abs(diff) <= check.tolerance:
            verdict = HOLDS
        elif not noisy and abs(diff) > 2 * se:
            verdict = FAILS
        else:
            verdict = UNSURE
    else:
        text = f"{a_name} better than {b_name} on {check.metric}"
        if noisy:
            verdict = UNSURE
        elif diff > 2 * se:
            verdict = HOLDS
        elif diff < -2 * se:
            verdict = FAILS
        else:
            verdict = UNSURE
    return {"check": text, "verdict": verdict, "diff": diff, "se": se, "a": a, "b": b}


def overall(verdicts: list[str]) -> str:
    """A claim holds when all its checks hold, fails when any fails, else is inconclusive."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if any(v == FAILS for v in verdicts):
        return FAILS
    return UNSURE
