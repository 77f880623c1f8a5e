"""Experiment specs: a claim, the variants that test it, and the checks that decide it.

A spec is a TOML file (the nine shipped ones live in `specs/`; a user may write their own):

    name = "mid-activation"               # what `dsconv experiment run NAME` calls it
    claim = "..."                         # the claim, in one sentence
    source = "Xception (Chollet 2017), Figure 10"
    paper = "..."                         # what the paper measured
    seeds = 3
    [base]                                # TrainConfig fields shared by every run
    model = "xception_mini"
    data = "synthetic:shapes"
    [[variants]]                          # one per arm: a name plus TrainConfig overrides
    name = "elu"
    model_args = { mid_act = "elu" }
    [[checks]]                            # what "the claim holds" means, one line each
    better = "elu"                        # or: similar = ["a", "b"], tolerance = 0.01
    worse = "relu"
    metric = "best_acc"                   # best_acc | final_acc | epochs_to_target | macs ...
    [quick]                               # overrides for --quick (tests) and --full
    [full]

`kind = "cost"` specs train nothing: the runner computes their rows from the cost formulas.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SPEC_DIR = Path(__file__).parent / "specs"
METRICS = {  # metric -> True when higher is better
    "best_acc": True, "final_acc": True, "epochs_to_target": False, "macs": False,
    "params": False, "train_s": False, "infer_ms": False,
    "best_bleu": True, "final_bleu": True,  # translation: validation sacreBLEU (greedy)
}


@dataclasses.dataclass
class Check:
    """One testable statement: `better` beats `worse` on `metric`, the `similar` pair is
    within `tolerance` of each other, or the first of `no_worse` matches or beats the second
    (is at most `tolerance` behind it)."""

    metric: str = "best_acc"
    better: str | None = None
    worse: str | None = None
    similar: tuple[str, str] | None = None
    no_worse: tuple[str, str] | None = None
    tolerance: float = 0.01

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"check metric {self.metric!r}: expected one of {sorted(METRICS)}")
        forms = [self.similar is not None, self.no_worse is not None,
                 self.better is not None and self.worse is not None]
        if sum(forms) != 1 or (self.better is None) != (self.worse is None):
            raise ValueError("a check names one of: better + worse, similar = [a, b], or "
                             "no_worse = [a, b]")
        for pair in ("similar", "no_worse"):
            if getattr(self, pair) is not None:
                setattr(self, pair, tuple(getattr(self, pair)))

    def arms(self) -> tuple[str, str]:
        return self.similar or self.no_worse or (self.better, self.worse)


@dataclasses.dataclass
class Spec:
    name: str
    claim: str
    source: str = ""
    paper: str = ""
    kind: str = "train"                      # 'train' or 'cost'
    needs_data: str = ""                     # no data of its own: what --data must name
    seeds: int = 3
    target: float = 0.5                      # accuracy that defines epochs_to_target
    base: dict[str, Any] = dataclasses.field(default_factory=dict)
    variants: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    checks: list[Check] = dataclasses.field(default_factory=list)
    quick: dict[str, Any] = dataclasses.field(default_factory=dict)
    full: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: str = ""

    def variant_names(self) -> list[str]:
        return [v["name"] for v in self.variants]

    def sized(self, size: str) -> Spec:
        """This spec at 'default', 'quick' or 'full' size: the size's table overrides `base`
        (its `seeds` overrides the count; its `variants`, a list of names, keeps those)."""
        if size == "default":
            return self
        over = dict(getattr(self, size))
        spec = copy.deepcopy(self)
        spec.seeds = over.pop("seeds", spec.seeds)
        keep = over.pop("variants", None)
        if keep is not None:
            spec.variants = [v for v in spec.variants if v["name"] in keep]
            spec.checks = [c for c in spec.checks if set(c.arms()) <= set(keep)]
        spec.base = {**spec.base, **over}
        return spec


_TYPES = {"name": str, "claim": str, "source": str, "paper": str, "kind": str,
          "needs_data": str, "seeds": int,
          "target": (int, float), "base": dict, "variants": list, "quick": dict, "full": dict}


def _check_types(raw: dict, path: Path) -> None:
    """A ValueError naming the key, unless every key holds what a spec takes."""
    for key, want in _TYPES.items():
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, want):
            name = {int: "an int", str: "a string", dict: "a table", list: "a list of tables"
                    }.get(want, "a number")
            raise ValueError(f"{path}: {key} = {value!r}: expected {name}")
    if isinstance(raw.get("seeds"), int) and raw["seeds"] < 1:
        raise ValueError(f"{path}: seeds = {raw['seeds']}: expected at least 1")
    for size in ("quick", "full"):
        seeds = raw.get(size, {}).get("seeds", 1)
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise ValueError(f"{path}: [{size}] seeds = {seeds!r}: expected an int >= 1")
    for i, v in enumerate(raw.get("variants", []), 1):
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise ValueError(f"{path}: [[variants]] number {i} needs a name = \"...\"")
        if not isinstance(v.get("model_args", {}), dict):
            raise ValueError(f"{path}: variant {v['name']!r}: model_args must be a table, e.g. "
                             "model_args = { residual = false }")


def _validate(spec: Spec) -> Spec:
    names = spec.variant_names()
    if spec.kind not in ("train", "cost"):
        raise ValueError(f"{spec.path}: kind={spec.kind!r}: expected 'train' or 'cost'")
    if spec.kind == "train" and not names:
        raise ValueError(f"{spec.path}: no [[variants]]: nothing to run")
    if len(set(names)) != len(names):
        raise ValueError(f"{spec.path}: variant names repeat: {names}")
    for c in spec.checks:
        missing = [a for a in c.arms() if a not in names]
        if missing and spec.kind == "train":
            raise ValueError(f"{spec.path}: a check names {missing}, not among the variants "
                             f"{names}")
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file; errors name the file and the fix."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"no spec file {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
    known = {f.name for f in dataclasses.fields(Spec)} - {"path"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; a spec takes {sorted(known)}")
    for key in ("name", "claim"):
        if key not in raw:
            raise ValueError(f"{path}: missing {key!r}")
    _check_types(raw, path)
    try:
        checks = [Check(**c) for c in raw.pop("checks", [])]
    except TypeError as e:
        raise ValueError(f"{path}: bad [[checks]] entry: {e}") from None
    return _validate(Spec(**raw, checks=checks, path=str(path)))


def list_experiments() -> list[Spec]:
    """The shipped experiments, in the order of the claims."""
    return [load_spec(p) for p in sorted(SPEC_DIR.glob("*.toml"))]  # files are numbered


def find_spec(name_or_path: str) -> Spec:
    """A shipped experiment by name, or a user's spec file by path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return load_spec(p)
    shipped = {s.name: s for s in list_experiments()}
    if name_or_path not in shipped:
        raise ValueError(f"unknown experiment {name_or_path!r}; shipped: "
                         f"{', '.join(shipped)} (or give a spec file's path)")
    return shipped[name_or_path]
