"""`dsconv experiment list | run | report`: the papers' claims, measured on bundled data."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..experiments import (
    Spec,
    build_report,
    claims_table,
    find_spec,
    list_experiments,
    plan,
    run_experiment,
)
from ..utils import atomic_write_text
from .flags import Formatter


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="reproduce the claims of the Xception, MobileNet "
                       "and SliceNet papers: list, run, report", formatter_class=Formatter,
                       description="Each claim is a spec of variants x seeds trained through "
                       "the training API; `run` writes results.csv, report.md and plots to "
                       "experiments/NAME by default. `dsconv experiment ACTION --help` for more.")
    ex = p.add_subparsers(dest="action", required=True, metavar="ACTION",
                          help="list, run or report (each has its own --help)")
    q = ex.add_parser("list", help="the shipped experiments, one line each",
                      formatter_class=Formatter)
    q.set_defaults(func=cmd_list)
    q = ex.add_parser("run", help="run an experiment (resumable: finished runs are skipped)",
                      formatter_class=Formatter)
    q.add_argument("name", help="a shipped experiment (see `list`), 'all', or a spec file")
    q.add_argument("--out", default=None, help="output folder (default: experiments/NAME, "
                   "NAME-quick with --quick, NAME-full with --full; with 'all': experiments/, "
                   "one folder per experiment)")
    size = q.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiny data, 1 epoch, 1 seed: a "
                      "smoke run in under 3 minutes")
    size.add_argument("--full", action="store_true", help="the spec's large setting (a GPU "
                      "or a cluster)")
    q.add_argument("--seeds", type=int, default=None, help="seeds per variant (spec default)")
    q.add_argument("--epochs", type=int, default=None, help="epochs per run (spec default)")
    q.add_argument("--data", default=None, help="data for every run, e.g. an ImageFolder, "
                   "aeon:NAME, synthetic:shapes?train=N (spec default)")
    q.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (they "
                   "share the cores)")
    q.set_defaults(func=cmd_run)
    q = ex.add_parser("report", help="rebuild report.md and plots of an experiment folder, "
                      "or of every experiment under a folder (then also claims.md)",
                      formatter_class=Formatter)
    q.add_argument("dir", help="an experiment's --out folder, or their parent")
    q.add_argument("--claims", default=None, help="where to write the claims table (default: "
                   "DIR/claims.md when DIR holds several experiments)")
    q.set_defaults(func=cmd_report)


def cmd_list(args: argparse.Namespace) -> int:
    for spec in list_experiments():
        print(f"{spec.name:24s} {spec.claim}")
    return 0


def _sized(spec: Spec, args: argparse.Namespace) -> Spec:
    spec = spec.sized("quick" if args.quick else "full" if args.full else "default")
    if args.seeds is not None:
        spec = dataclasses.replace(spec, seeds=args.seeds)
    over = {k: v for k, v in (("epochs", args.epochs), ("data", args.data)) if v is not None}
    if over and spec.kind == "train":
        spec = dataclasses.replace(spec, base={**spec.base, **over})
    return spec


def _missing_data(spec: Spec) -> str | None:
    """Why `spec` cannot run without --data (it ships no data of its own), or None."""
    if spec.needs_data and "data" not in spec.base:
        return f"experiment {spec.name} needs --data: {spec.needs_data}"
    return None


def _run_one(spec: Spec, out: Path, jobs: int) -> dict:
    rows = run_experiment(spec, out, jobs)
    rep = build_report(out)
    print(f"{spec.name}: {len(rows)} rows in {out / 'results.csv'}; claim "
          f"{rep['verdict']}; report {rep['report']}")
    return rep


def _out(args: argparse.Namespace, name: str, root: Path | None = None) -> Path:
    """An experiment's folder: --out, else experiments/NAME, with -quick / -full for those
    sizes, so a smoke run and a real one never share (and never mix) their runs."""
    suffix = "-quick" if args.quick else "-full" if args.full else ""
    if root is not None:
        return root / f"{name}{suffix if args.out is None else ''}"
    return Path(args.out or f"experiments/{name}{suffix}")


def cmd_run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        raise ValueError(f"--jobs {args.jobs}: must be at least 1")
    if args.name != "all":
        spec = _sized(find_spec(args.name), args)
        if _missing_data(spec):
            raise ValueError(_missing_data(spec))
        _run_one(spec, _out(args, spec.name), args.jobs)
        return 0
    root = Path(args.out or "experiments")
    specs = [_sized(s, args) for s in list_experiments()]
    for why in filter(None, map(_missing_data, specs)):  # said, not silently left out
        print(f"skipped: {why}")
    specs = [s for s in specs if not _missing_data(s)]
    for spec in specs:  # every spec's every run is checked before the first one trains
        if spec.kind == "train":
            plan(spec, _out(args, spec.name, root))
    reports = [_run_one(s, _out(args, s.name, root), args.jobs) for s in specs]
    atomic_write_text(root / "claims.md", claims_table(reports))
    print(f"wrote {root / 'claims.md'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if (root / "spec.json").exists():
        reports = [build_report(root)]
    else:
        reports = [build_report(d) for d in sorted(root.iterdir()) if (d / "spec.json").exists()]
        if not reports:
            raise ValueError(f"{root} holds no experiment folders (none has a spec.json)")
    order = {s.name: i for i, s in enumerate(list_experiments())}  # the claims' order
    reports.sort(key=lambda r: order.get(r["name"], len(order)))
    for r in reports:
        print(f"{r['name']}: {r['verdict']}; {r['report']}")
    claims = args.claims or (str(root / "claims.md") if len(reports) > 1 else None)
    if claims:
        atomic_write_text(Path(claims), claims_table(reports))
        print(f"wrote {claims}")
    return 0
