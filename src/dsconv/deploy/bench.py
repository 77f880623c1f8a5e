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

from ..cost import profile
from ..utils import median_time
from .keras_peer import bench_keras, keras_counterpart
from .onnx import example_input
from .optimize import optimize, to_channels_last


def matmul_roof(n: int = 2048, reps: int = 8, int8: bool = False) -> float:
    """GFLOP/s (GOP/s for int8) of the fastest n x n matmul this machine runs now: the roof
    for conv work.

    fp32: the best of torch's matmul and ONNX Runtime's (MLAS). One library alone is not the
    machine's peak: on an AMD EPYC, torch's probe read 222 GFLOP/s while ONNX Runtime's convs
    ran at 398, so paths showed 121-180% of the "roof". int8: ONNX Runtime's MatMulInteger
    (u8 x s8, VNNI where the CPU has it), the roof of the int8 backend.
    """
    probes = [_ort_matmul] if int8 else [_torch_matmul, _ort_matmul]
    rates = []
    for probe in probes:
        try:
            rates.append(2 * n**3 / probe(n, reps, int8) / 1e9)
        except ImportError:  # onnxruntime is an extra: torch's probe alone without it
            continue
    return max(rates)


def _torch_matmul(n: int, reps: int, int8: bool = False) -> float:
    """Best seconds of an fp32 n x n torch.mm into a preallocated output (a fresh 16 MB
    output per call measures page faults, not arithmetic)."""
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    return _best(lambda: torch.mm(a, b, out=out), reps)


def _ort_matmul(n: int, reps: int, int8: bool = False) -> float:
    """Best seconds of an n x n MatMul (fp32) or MatMulInteger (int8) in ONNX Runtime, with
    the inputs and the output bound once, in the threads torch uses."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    kinds = ((TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32, "MatMulInteger") if int8
             else (TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT, "MatMul"))
    ins = [helper.make_tensor_value_info(k, t, [n, n]) for k, t in zip("ab", kinds[:2])]
    graph = helper.make_graph([helper.make_node(kinds[3], ["a", "b"], ["y"])], "roof", ins,
                              [helper.make_tensor_value_info("y", kinds[2], [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    io = sess.io_binding()
    if int8:
        io.bind_cpu_input("a", rng.integers(0, 255, (n, n), dtype=np.uint8))
        io.bind_cpu_input("b", rng.integers(-127, 127, (n, n), dtype=np.int8))
    else:
        io.bind_cpu_input("a", rng.standard_normal((n, n), dtype=np.float32))
        io.bind_cpu_input("b", rng.standard_normal((n, n), dtype=np.float32))
    out_dtype = np.int32 if int8 else np.float32
    io.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy(np.empty((n, n), out_dtype)))
    return _best(lambda: sess.run_with_iobinding(io), reps)


def _best(fn: Callable[[], object], reps: int) -> float:
    """Best seconds of fn() over `reps` calls after one warm-up (a roof is what the machine can
    do: the best, not the median)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


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


def bench(model: nn.Module, input_size: int | tuple[int, ...], batches: list[int],
          backends: list[str], train: bool = False, reps: int = 5,
          against: Sequence[str] = ()) -> dict:
    """Rows of {backend, batch, ms, img_s, gflops, roof_pct} (+ a training row per batch).
    roof_pct: of the fp32 matmul roof, for int8 rows of the int8 one (`matmul_roof`).

    against=['keras'] adds Keras's own model, measured in this process after dsconv's paths.
    The roof is the best of matmul probes taken before and after the timings, so a probe that
    ran while the machine was busy cannot put a path above 100% of it.
    """
    for ref in against:
        if ref != "keras":
            raise ValueError(f"against={ref!r}: only 'keras' is supported")
    # Build the reference first: a missing Keras or a config it lacks fails before the timing.
    keras_net = keras_counterpart(model, input_size) if "keras" in against else None
    macs = profile(model, input_size).macs
    roof_before = matmul_roof()
    timed = _time_backends(model, input_size, batches, backends, reps)  # (label, bs, s, flops)
    if train:
        net = copy.deepcopy(model).to(memory_format=torch.channels_last).train()
        for bs in batches:
            x = to_channels_last(example_input(model, input_size, bs))
            step = sgd_step(net, x, torch.zeros(bs, dtype=torch.long))
            timed.append(("train (channels_last)", bs, median_time(step, max(2, reps // 2), 1), 3))
    if keras_net is not None:
        timed += [(label, bs, t, 3 if label.startswith("train") else 1)
                  for label, bs, t in bench_keras(*keras_net, batches, train, reps)]
    roof = max(roof_before, matmul_roof())
    int8_roof = max(matmul_roof(int8=True), matmul_roof(int8=True)) if "int8" in backends \
        else None
    rows = [_row(label, bs, t, k * macs, int8_roof if label == "int8" else roof)
            for label, bs, t, k in timed]
    return {"macs": macs, "roof_gflops": roof, "int8_roof_gops": int8_roof,
            "threads": torch.get_num_threads(), "input_size": input_size, "rows": rows}


def _time_backends(model: nn.Module, input_size, batches: list[int], backends: list[str],
                   reps: int) -> list[tuple[str, int, float, int]]:
    timed = []
    for backend in backends:
        # int8 timing only: synthetic calibration (speed does not depend on the ranges chosen;
        # accuracy does, which `dsconv quantize` measures on real held-out data).
        calib = None
        if backend == "int8":
            calib = [example_input(model, input_size, 4) for _ in range(2)]
        run = optimize(model, backend, input_size, calib)
        for bs in batches:
            x = example_input(model, input_size, bs)
            timed.append((backend, bs, median_time(lambda run=run, x=x: run(x), reps), 1))
    return timed


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
