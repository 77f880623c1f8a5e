"""dsconv's depthwise Conv1d against torch.nn.Conv1d(C, C, K, groups=C), and a training epoch of
`xceptiontime` against the same network built from plain torch.nn layers (as tsai builds it),
and against dsconv without the fused multi-kernel branches and the numba max-pool.

    python benchmarks/depthwise1d.py                       # layer table + epoch, ~2 min
    python benchmarks/depthwise1d.py --reps 9 --ks 39 9 --skip-epoch

Timings interleave torch and ours rep by rep in one process (load hits both alike); the table
shows medians, the median of per-rep ratios, and min(torch) / min(ours) ("min", the least
disturbed pair). Forward runs under no_grad; fwd+bwd computes grads of input, weight and bias.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

import dsconv.layers.depthwise1d as D
import dsconv.layers.separable as S
from dsconv.layers import AdaptiveAvgPool1d, DepthwiseConv1d, MaxPool1dSame, PointwiseConv1d
from dsconv.models import create_model
from dsconv.utils import tune_allocator


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare(ref: Callable[[], object], ours: Callable[[], object], reps: int,
            budget_s: float = 30.0) -> tuple[float, float, float, float]:
    """(median ms ref, median ms ours, median of ref/ours per rep, min(ref) / min(ours))."""
    tr, to = compare_many(ref, [ours], reps, budget_s)
    ratio = statistics.median(a / b for a, b in zip(tr, to))
    return statistics.median(tr) * 1e3, statistics.median(to) * 1e3, ratio, min(tr) / min(to)


def compare_many(ref: Callable[[], object], others: list[Callable[[], object]], reps: int,
                 budget_s: float) -> list[list[float]]:
    """Seconds per rep of ref and of each of others, interleaved rep by rep (after a warm-up)."""
    fns = [ref, *others]
    for f in fns:
        f()  # warm-up: compiles, caches
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < reps and (len(times[0]) < 3 or time.perf_counter() - start < budget_s):
        for f, t in zip(fns, times):
            t.append(_timed(f))
    return times


def layer_rows(N: int, C: int, L: int, K: int, reps: int, routes: list[str]) -> list[str]:
    """One table row per route at x = (N, C, L), kernel K, 'same' padding."""
    conv = nn.Conv1d(C, C, K, groups=C, padding=K // 2)
    x = torch.randn(N, C, L, requires_grad=True)
    gy = torch.randn(N, C, L)
    pad = (K // 2, K // 2)

    def ours() -> torch.Tensor:
        return D.depthwise_conv1d(x, conv.weight, conv.bias, 1, pad)

    def fwd_bwd(f: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            x.grad = conv.weight.grad = conv.bias.grad = None
            f().backward(gy)
        return run

    rows = []
    for route in routes:
        D.USE_NUMBA = route == "numba"
        with torch.no_grad():
            f = compare(lambda: conv(x), ours, reps)
        b = compare(fwd_bwd(lambda: conv(x)), fwd_bwd(ours), reps)
        rows.append(f"| {K} | {route} | {f[0]:.1f} | {f[1]:.1f} | {f[2]:.1f}x ({f[3]:.1f}x) "
                    f"| {b[0]:.1f} | {b[1]:.1f} | {b[2]:.1f}x ({b[3]:.1f}x) |")
    D.USE_NUMBA = D._numba is not None
    return rows


def plain_torch(model: nn.Module, depthwise: bool = True) -> nn.Module:
    """A copy of `model` whose depthwise convs are torch.nn.Conv1d(groups=C) with the same
    weights and padding inside the conv, whose 1x1 convs are torch.nn.Conv1d and whose
    max-pools are torch.nn.MaxPool1d: the network as tsai builds it (the branches then run one
    by one: they are not fusable), with torch's adaptive average pool. depthwise=False keeps
    dsconv's depthwise convs (dsconv before issue 20's fused branches, matmul 1x1s, numba
    max-pool and matrix pool, with FUSE_BRANCHES off)."""
    model = copy.deepcopy(model)
    for name, m in list(model.named_modules()):
        if (isinstance(m, DepthwiseConv1d) and depthwise) or isinstance(m, PointwiseConv1d):
            # (dsconv's 1x1s run as a matmul on CPU; a 1x1's 'same' padding is 0)
            assert m.explicit_pad is None and not m.dynamic_same, "odd kernels, stride 1 only"
            plain = nn.Conv1d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                              m.dilation, m.groups, m.bias is not None)
            plain.load_state_dict(m.state_dict())
        elif isinstance(m, MaxPool1dSame):
            assert m.explicit_pad is None and not m.dynamic_same, "odd kernels only"
            plain = nn.MaxPool1d(m.kernel_size, m.stride, m.padding)
        elif isinstance(m, AdaptiveAvgPool1d):  # (dsconv's pools with a matrix)
            plain = nn.AdaptiveAvgPool1d(m.output_size)
        else:
            continue
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        setattr(parent, name.rpartition(".")[2], plain)
    return model


def epoch_ratio(n: int, channels: int, length: int, batch: int, reps: int) -> str:
    """Median time of one training epoch (n series, Adam steps of `batch`): plain torch; dsconv
    before issue 20 (the multi-kernel branches one by one, aten's max-pool); dsconv now (fused
    branches, numba max-pool). Ratios: plain / dsconv."""
    torch.manual_seed(0)
    ours = create_model("xceptiontime", in_chans=channels, num_classes=4)
    ref, before = plain_torch(ours), plain_torch(ours, depthwise=False)
    x, y = torch.randn(n, channels, length), torch.randint(0, 4, (n,))
    with torch.no_grad():
        diff = (ours.eval()(x[:8]) - ref.eval()(x[:8])).abs().max().item()
    grads = []  # one training step's gradients, parameter by parameter (same names)
    for model in (ours, ref):
        model.train().zero_grad()
        nn.functional.cross_entropy(model(x[:batch]), y[:batch]).backward()
        grads.append({k: p.grad for k, p in model.named_parameters()})
    gdiff = max(((grads[0][k] - g).abs().max() / g.abs().max().clamp_min(1e-30)).item()
                for k, g in grads[1].items())

    def epoch(model: nn.Module, fuse: bool = True) -> Callable[[], None]:
        opt = torch.optim.Adam(model.parameters(), 1e-4)  # tiny lr: both stay comparable

        def run() -> None:
            S.FUSE_BRANCHES = fuse
            model.train()
            for i in range(0, n, batch):
                loss = nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            S.FUSE_BRANCHES = True
        return run

    tr, tb, to = compare_many(epoch(ref), [epoch(before, False), epoch(ours)], reps, 180)
    med = statistics.median

    def ratio(t: list[float]) -> str:
        return f"{med(a / b for a, b in zip(tr, t)):.2f}x ({min(tr) / min(t):.2f}x)"

    return (f"| xceptiontime epoch, {n} series ({channels}, {length}), batch {batch} | "
            f"{med(tr):.2f} s | {med(tb):.2f} s, {ratio(tb)} | {med(to):.2f} s, {ratio(to)} | "
            f"max output difference {diff:.1e}, gradients {gdiff:.1e} of their largest |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shape", type=int, nargs=3, default=(64, 128, 512), metavar=("N", "C", "L"))
    ap.add_argument("--ks", type=int, nargs="+", default=(39, 19, 9))
    ap.add_argument("--routes", nargs="+", default=["numba", "torch"], choices=["numba", "torch"],
                    help="numba: the default route; torch: the route without numba installed")
    ap.add_argument("--epoch", type=int, nargs=3, default=(256, 6, 512),
                    metavar=("N", "C", "L"), help="the epoch comparison's data")
    ap.add_argument("--skip-epoch", action="store_true")
    a = ap.parse_args()
    routes = [r for r in a.routes if r == "torch" or D._numba is not None]
    torch.set_num_threads(a.threads)
    tune_allocator()  # as the CLI does (both builds alike): glibc keeps large freed blocks
    N, C, L = a.shape
    print(f"x = ({N}, {C}, {L}) float32, stride 1, 'same', {a.threads} threads, torch "
          f"{torch.__version__}; medians of {a.reps} interleaved reps, ratio (min ratio)\n")
    print("| K | route | fwd torch ms | fwd ours ms | fwd ratio | fwd+bwd torch ms "
          "| fwd+bwd ours ms | fwd+bwd ratio |\n|---|---|---|---|---|---|---|---|")
    for K in a.ks:
        for row in layer_rows(N, C, L, K, a.reps, routes):
            print(row, flush=True)
    if not a.skip_epoch:
        print("\n| | plain torch.nn | dsconv before fusing: time, ratio (min) "
              "| dsconv: time, ratio (min) | check |\n|---|---|---|---|---|")
        print(epoch_ratio(*a.epoch, batch=64, reps=max(3, a.reps // 2)), flush=True)


if __name__ == "__main__":
    main()
