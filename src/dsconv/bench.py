"""Measure a model's speed per backend, next to a matmul roof measured in the same run.

Figures drift by ~5% between processes on a shared CPU, so every comparison here is a ratio
between paths measured in one process, one after the other.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .cost import bn_stat_count, profile
from .deploy import example_input, optimize


def median_time(fn: Callable[[], object], reps: int, warmup: int = 2) -> float:
    """Median seconds of fn() over `reps` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def matmul_roof(n: int = 2048, reps: int = 8) -> float:
    """fp32 GFLOP/s of an n x n matmul on this machine now: the roof for conv work.

    The best of `reps` into a preallocated output: a roof is what the machine can do, and a
    fresh 16 MB output per call measures page faults, not arithmetic (that probe once read
    90 GFLOP/s where this one reads ~185 on the same 2 cores).
    """
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=out)  # warm up the thread pool and caches
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def sgd_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float = 1e-3,
             momentum: float = 0.9) -> Callable[[], None]:
    """One SGD training step as a closure: net(x) (N, C, H, W) -> logits (N, K), cross-entropy
    against labels y (N,), backward, update. `net` may be a torch.compile wrapper."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    return step


def bench(model: nn.Module, input_size: int, batches: list[int], backends: list[str],
          train: bool = False, reps: int = 5, against: Sequence[str] = ()) -> dict:
    """Rows of {backend, batch, ms, img_s, gflops, roof_pct} (+ a training row per batch).

    against=['keras'] adds Keras's own model, measured in this process after dsconv's paths.
    """
    for ref in against:
        if ref != "keras":
            raise ValueError(f"against={ref!r}: only 'keras' is supported")
    # Build the reference first: a missing Keras or a config it lacks fails before the timing.
    keras_net = keras_counterpart(model, input_size) if "keras" in against else None
    macs = profile(model, input_size).macs
    roof = matmul_roof()
    rows = []
    for backend in backends:
        # int8 timing only: synthetic calibration (speed does not depend on the ranges chosen;
        # accuracy does, which `dsconv quantize` measures on real held-out data).
        calib = None
        if backend == "int8":
            calib = [example_input(model, input_size, 4) for _ in range(2)]
        run = optimize(model, backend, input_size, calib)
        for bs in batches:
            x = example_input(model, input_size, bs)
            t = median_time(lambda run=run, x=x: run(x), reps)
            rows.append(_row(backend, bs, t, macs, roof))
    if train:
        net = copy.deepcopy(model).to(memory_format=torch.channels_last).train()
        for bs in batches:
            x = example_input(model, input_size, bs).contiguous(memory_format=torch.channels_last)
            step = sgd_step(net, x, torch.zeros(bs, dtype=torch.long))
            t = median_time(step, max(2, reps // 2), warmup=1)
            rows.append(_row("train (channels_last)", bs, t, 3 * macs, roof))
    if keras_net is not None:
        for label, bs, t in bench_keras(*keras_net, batches, train, reps):
            rows.append(_row(label, bs, t, 3 * macs if label.startswith("train") else macs,
                             roof))
    return {"macs": macs, "roof_gflops": roof, "threads": torch.get_num_threads(),
            "input_size": input_size, "rows": rows}


def keras_counterpart(model: nn.Module, input_size: int):
    """Keras's own application model for a dsconv Xception / MobileNet v1 (random weights).

    Keras runs on TensorFlow when it is installed, else on PyTorch (KERAS_BACKEND=torch is
    set here if nothing chose a backend); the backend is part of the row's name.
    """
    import importlib.util
    import os

    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
        os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError as err:
        raise ImportError("--against keras needs keras: pip install keras") from err
    cfg, name = getattr(model, "cfg", None), type(model).__name__
    shape = (input_size, input_size, getattr(cfg, "in_chans", 3))
    classes = getattr(cfg, "num_classes", 1000)
    standard = getattr(cfg, "conv_mode", "separable") != "separable"
    if name == "Xception" and not standard and cfg.middle_repeats == 8:
        net = keras.applications.Xception(weights=None, input_shape=shape, classes=classes)
    elif name == "MobileNetV1" and not standard:
        net = keras.applications.MobileNet(weights=None, input_shape=shape, classes=classes,
                                           alpha=cfg.alpha)
    else:
        raise ValueError(f"--against keras: Keras has no counterpart of this {name} "
                         "(Keras ships Xception and MobileNet v1 only)")
    # Same network or no comparison: Keras counts BN statistics among its parameters.
    ours = sum(p.numel() for p in model.parameters()) + bn_stat_count(model)
    if net.count_params() != ours:
        raise ValueError(f"--against keras: Keras's model has {net.count_params():,} parameters, "
                         f"this one {ours:,}; only the Keras-default configurations compare")
    return net, f"keras ({keras.backend.backend()} backend)"


def bench_keras(net, label: str, batches: list[int], train: bool = False, reps: int = 5
                ) -> list[tuple[str, int, float]]:
    """(path, batch, seconds) of a Keras model: inference, and train_on_batch steps."""
    import numpy as np

    rows = []
    for bs in batches:
        x = np.random.default_rng(0).standard_normal((bs, *net.input_shape[1:]), np.float32)
        rows.append((label, bs, median_time(lambda x=x: net.predict_on_batch(x), reps)))
    if train:
        net.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        for bs in batches:
            x = np.random.default_rng(0).standard_normal((bs, *net.input_shape[1:]), np.float32)
            y = np.zeros(bs, np.int64)
            t = median_time(lambda x=x, y=y: net.train_on_batch(x, y), max(2, reps // 2), 1)
            rows.append((f"train {label}", bs, t))
    return rows


def _row(backend: str, bs: int, t: float, macs: int, roof: float) -> dict:
    gflops = 2 * macs * bs / t / 1e9
    return {"backend": backend, "batch": bs, "ms": t * 1e3, "img_s": bs / t, "gflops": gflops,
            "roof_pct": 100 * gflops / roof}


def plot_bench(result: dict, path) -> None:
    """Bar chart of images/s per backend and batch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    labels = [f"{r['backend']}\nbs {r['batch']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, len(rows) * 1.2), 4))
    ax.bar(range(len(rows)), [r["img_s"] for r in rows])
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set(ylabel="images / s", title=f"input {result['input_size']}, "
           f"{result['threads']} threads, roof {result['roof_gflops']:.0f} GFLOP/s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
