"""What a run writes and prints: metrics.csv, the per-epoch line, the bar, curves, summary."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..utils import atomic_write_text


def write_metrics_csv(out: Path, history: list[dict]) -> None:
    """One row per epoch, every key any epoch had, written atomically."""
    keys = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    w = csv.DictWriter(buf, keys)
    w.writeheader()
    w.writerows(history)
    atomic_write_text(out / "metrics.csv", buf.getvalue())


def epoch_line(row: dict) -> str:
    """'epoch=3 step=63 lr=0.002 train_loss=...' for the log."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in row.items())


def progress_bar(cfg, rank: int, n: int, epoch: int):
    """A tqdm bar on rank 0 when stderr is a terminal, else None."""
    if not cfg.progress or rank != 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    # disable=None: no bar when stderr is not a terminal (CI logs, nohup).
    return tqdm(total=n, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=None)


def tensorboard_writer(out: Path):
    """A TensorBoard SummaryWriter in <out>/tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        raise ImportError("--tensorboard needs the tensorboard package: pip install "
                          "tensorboard") from err
    return SummaryWriter(out / "tensorboard")


def write_final_reports(out: Path, history: list[dict], summary: dict) -> None:
    """curves.png (when matplotlib is there) and summary.json."""
    try:
        from .plots import plot_curves

        plot_curves(history, out / "curves.png")
    except ImportError:
        pass
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
