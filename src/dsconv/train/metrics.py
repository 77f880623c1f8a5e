"""Evaluation (top-1, top-5, per-class accuracy, confusion matrix) and prediction."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import collate


@torch.no_grad()
def run_eval(model: nn.Module, dataset: Dataset, num_classes: int, batch_size: int = 128,
             workers: int = 0, device: torch.device | str = "cpu",
             channels_last: bool = False) -> dict:
    """Accuracy figures of `model` on `dataset` (items (x, label, index)).

    Returns top1, top5, loss, per_class (accuracy per class, None where a class has no
    samples), confusion (num_classes x num_classes counts, rows = true class), n, skipped.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    top5 = n = 0
    loss = 0.0
    skipped: list[int] = []
    for x, y, bad in loader:
        skipped += bad
        if x is None:
            continue
        x = x.to(device)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x).float().cpu()
        loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        pred = logits.argmax(1)
        confusion += torch.bincount(y * num_classes + pred, minlength=num_classes**2).view(
            num_classes, num_classes)
        k = min(5, num_classes)
        top5 += (logits.topk(k, 1).indices == y[:, None]).any(1).sum().item()
        n += len(y)
    per_class_n = confusion.sum(1)
    per_class = [(confusion[i, i] / per_class_n[i]).item() if per_class_n[i] else None
                 for i in range(num_classes)]
    return {"top1": confusion.diag().sum().item() / max(n, 1), "top5": top5 / max(n, 1),
            "loss": loss / max(n, 1), "per_class": per_class, "confusion": confusion.tolist(),
            "n": n, "skipped": skipped}


def write_eval_reports(metrics: dict, classes: list[str], out: Path) -> list[Path]:
    """per_class.csv, confusion.csv and confusion.png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "per_class.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["class", "n", "accuracy"])
        for c, row, acc in zip(classes, metrics["confusion"], metrics["per_class"]):
            w.writerow([c, sum(row), "" if acc is None else f"{acc:.6f}"])
    with open(out / "confusion.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["true \\ predicted", *classes])
        for c, row in zip(classes, metrics["confusion"]):
            w.writerow([c, *row])
    paths = [out / "per_class.csv", out / "confusion.csv"]
    try:
        from .plots import plot_confusion

        paths.append(plot_confusion(metrics["confusion"], classes, out / "confusion.png"))
    except ImportError:
        pass
    return paths
