"""Reproduce the claims of the Xception and MobileNet papers: declarative specs, a resumable
runner over the training API, verdicts beyond seed noise, reports and plots."""

from .report import build_report, claims_table, read_folder
from .runner import collect, plan, run_experiment, run_one, write_results
from .spec import Check, Spec, find_spec, list_experiments, load_spec

__all__ = ["Check", "Spec", "build_report", "claims_table", "collect", "find_spec",
           "list_experiments", "load_spec", "plan", "read_folder", "run_experiment", "run_one",
           "write_results"]
