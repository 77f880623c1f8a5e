"""The fast depthwise Conv1d equals F.conv1d(F.pad(x, padding), groups=C) on every route:
values and both gradients, over random shapes, strides, dilations, paddings and depth
multipliers (property-based), and DepthwiseConv1d equals torch's nn.Conv1d(groups=C)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsconv.layers.depthwise1d as D
from dsconv.layers import DepthwiseConv1d, SeparableConv1d

ROUTES = ["numba", "torch"] if D._numba is not None else ["torch"]
# the route fixture only sets module switches, so sharing it across hypothesis examples is intended
PROPS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def route(request, monkeypatch):
    """Force a route regardless of problem size. Runs single-threaded: on a busy 2-core box every
    OpenMP parallel region can stall for scheduler ticks (~8 ms), which dominates tiny cases."""
    monkeypatch.setattr(D, "USE_NUMBA", request.param == "numba")
    monkeypatch.setattr(D, "MIN_NUMBA_MACS", 0)
    monkeypatch.setattr(D, "MIN_TORCH_MACS", 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield request.param
    torch.set_num_threads(threads)


@st.composite
def conv_cases(draw):
    K = draw(st.integers(1, 11))  # covers several 4-tap passes plus every remainder
    d = draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    causal = draw(st.booleans())
    pad = (d * (K - 1), 0) if causal else (draw(st.integers(0, 6)), draw(st.integers(0, 6)))
    min_len = max(1, d * (K - 1) + 1 - pad[0] - pad[1])  # at least one output
    L = min_len + draw(st.integers(0, 24))
    return dict(
        N=draw(st.integers(1, 3)),
        C=draw(st.integers(1, 4)),
        L=L,
        K=K,
        s=s,
        d=d,
        pad=pad,
        dm=draw(st.integers(1, 3)),
        bias=draw(st.booleans()),
        gx=draw(st.booleans()),
        gw=draw(st.booleans()),
    )


def _reference(
    case: dict, leaves: list[torch.Tensor], wants: list[bool], gy: torch.Tensor, noncontig: bool
) -> list[torch.Tensor | None]:
    """float64 F.conv1d(F.pad(x), groups=C): [y, grad_x, grad_w, (grad_b)], None if not wanted."""
    ref_in = [t.clone().requires_grad_(r) for t, r in zip(leaves, wants)]
    x = ref_in[0][..., ::2] if noncontig else ref_in[0]
    bias = ref_in[2] if len(ref_in) > 2 else None
    y = F.conv1d(F.pad(x, case["pad"]), ref_in[1], bias, case["s"], 0, case["d"], case["C"])
    if any(wants):
        y.backward(gy)
    return [y.detach()] + [t.grad for t in ref_in]


def _check(case: dict, dtype: torch.dtype, tol: float, noncontig: bool = False) -> None:
    """Forward and all requested grads vs a float64 reference. Every output element is a sum of
    products, so the error allowed is tol * (the same sum over |terms|), computed by running the
    reference on |inputs|; a plain relative test fails on sums that cancel (a bias grad over 9
    random values came out 1.5e-3 with a correct 1.7e-7 float32 error)."""
    N, C, L, K, dm = case["N"], case["C"], case["L"], case["K"], case["dm"]
    g = torch.Generator().manual_seed(0)
    x64 = torch.randn(N, C, 2 * L if noncontig else L, generator=g, dtype=torch.float64)
    w64 = torch.randn(C * dm, 1, K, generator=g, dtype=torch.float64)
    b64 = torch.randn(C * dm, generator=g, dtype=torch.float64) if case["bias"] else None
    leaves = [x64, w64] + ([b64] if b64 is not None else [])
    wants = [case["gx"], case["gw"]] + ([True] if b64 is not None else [])
    ours_in = [t.to(dtype, copy=True).requires_grad_(r) for t, r in zip(leaves, wants)]
    ours_x = ours_in[0][..., ::2] if noncontig else ours_in[0]
    y = D.depthwise_conv1d(
        ours_x,
        ours_in[1],
        ours_in[2] if b64 is not None else None,
        case["s"],
        case["pad"],
        case["d"],
    )
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    ref = _reference(case, leaves, wants, gy, noncontig)
    mag = _reference(case, [t.abs() for t in leaves], wants, gy.abs(), noncontig)
    assert y.dtype == dtype and y.shape == ref[0].shape
    if not any(wants):
        assert not y.requires_grad
    else:
        y.backward(gy.to(dtype))
    for ours, r, m in zip([y.detach()] + [t.grad for t in ours_in], ref, mag):
        assert (ours is None) == (r is None)
        if r is not None:
            err, bound = (ours.double() - r).abs(), tol * m + 1e-300
            assert bool((err <= bound).all()), f"max err / bound = {(err / bound).max().item():.3g}"


@pytest.mark.parametrize("route", ROUTES, indirect=True)
@settings(max_examples=120, **PROPS)
@given(case=conv_cases())
def test_matches_torch_float32(route, case):
    _check(case, torch.float32, 1e-5)


@pytest.mark.parametrize("route", ROUTES, indirect=True)
@settings(max_examples=25, **PROPS)
@given(case=conv_cases())
def test_matches_torch_float64(route, case):
    _check(case, torch.float64, 1e-10)


@pytest.mark.parametrize("route", ROUTES, indirect=True)
@settings(max_examples=25, **PROPS)
@given(case=conv_cases())
def test_noncontiguous_input(route, case):
    _check(case, torch.float32, 1e-5, noncontig=True)


@pytest.mark.parametrize("route", ROUTES, indirect=True)
@pytest.mark.parametrize("s,d,pad,dm", [(1, 1, (2, 1), 1), (2, 2, (3, 0), 2), (3, 1, (0, 4), 1)])
def test_gradcheck_float64(route, s, d, pad, dm):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 11, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(2 * dm, 1, 3, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(2 * dm, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: D.depthwise_conv1d(x, w, b, s, pad, d), (x, w, b)
    )


@pytest.mark.parametrize("route", ROUTES, indirect=True)
def test_medium_problem_and_threads(route):
    """A size where vector loops and thread partials matter; numba threads follow torch's."""
    torch.set_num_threads(2)  # the fixture restores the original count
    for dm, s in ((1, 1), (2, 2)):
        case = dict(
            N=4, C=8, L=300, K=39, s=s, d=1, pad=(19, 19), dm=dm, bias=True, gx=True, gw=True
        )
        _check(case, torch.float32, 1e-5)
    if route == "numba":
        assert D._numba._workers() == 2


def test_dispatch_rule(monkeypatch):
    x, w = torch.randn(64, 128, 512), torch.randn(128, 1, 9)
    monkeypatch.setattr(D, "USE_NUMBA", D._numba is not None)
    big = 64 * 128 * 512 * 9
    assert D._route(x, w, None, big) == ("numba" if D._numba is not None else "torch")
    assert D._route(x, w, None, 10) == "native"
    assert D._route(x.half(), w.half(), None, big) == "native"
    assert D._route(x, w.double(), None, big) == "native"
    monkeypatch.setattr(D, "USE_NUMBA", False)
    assert D._route(x, w, None, big) == "torch"


def test_other_dtype_uses_native():
    x, w = torch.randn(2, 3, 20, dtype=torch.bfloat16), torch.randn(6, 1, 4, dtype=torch.bfloat16)
    torch.testing.assert_close(
        D.depthwise_conv1d(x, w, None, 2, (3, 0), 2),
        F.conv1d(F.pad(x, (3, 0)), w, None, 2, 0, 2, 3),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("route", ROUTES, indirect=True)
def test_errors(route):
    x, w = torch.randn(2, 3, 5), torch.randn(3, 1, 7)
    with pytest.raises(ValueError, match="shorter than the dilated kernel"):
        D.depthwise_conv1d(x, w)
    D.depthwise_conv1d(x, w, padding=(1, 1))  # exactly one output: fine
    with pytest.raises(ValueError, match="weight"):
        D.depthwise_conv1d(x, torch.randn(4, 1, 3))
    with pytest.raises(ValueError, match="bias"):
        D.depthwise_conv1d(x, torch.randn(3, 1, 3), torch.randn(4))
    with pytest.raises(ValueError, match="stride"):
        D.depthwise_conv1d(x, torch.randn(3, 1, 3), stride=0)
    with pytest.raises(ValueError, match=r"\(N, C, L\)"):
        D.depthwise_conv1d(x[0], torch.randn(3, 1, 3))


@pytest.mark.parametrize("s,d,pad,dm,bias", [(1, 1, (6, 0), 1, False), (1, 2, (3, 4), 2, True),
                                             (2, 1, (1, 1), 1, True), (1, 3, (0, 0), 1, False),
                                             (1, 2, (4, 4), 1, True)])
def test_channels_last_equals_torch(s, d, pad, dm, bias):
    # SliceNet's layout: (N, L, C) in and out, oneDNN's channels-last kernel underneath.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 20, 8, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8 * dm, 1, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8 * dm, generator=g, dtype=torch.float64, requires_grad=True) if bias \
        else None
    got = D.depthwise_conv1d_last(x, w, b, s, pad, d)
    assert got.is_contiguous()
    torch.testing.assert_close(got, F.conv1d(F.pad(x.mT, pad), w, b, s, 0, d, 8).mT)
    args = (x, w) if b is None else (x, w, b)
    assert torch.autograd.gradcheck(
        lambda *a: D.depthwise_conv1d_last(a[0], a[1], a[2] if bias else None, s, pad, d), args)
    with pytest.raises(ValueError, match=r"\(N, L, C\)"):
        D.depthwise_conv1d_last(x[0], w)


def test_channels_last_under_autocast_runs_in_its_dtype():
    # The custom backward once met a bf16 gradient beside float32 saved tensors and failed.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 24, 16, generator=g, requires_grad=True)
    w = torch.randn(16, 1, 7, generator=g, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = D.depthwise_conv1d_last(x, w, None, 1, (6, 0))
    assert y.dtype == torch.bfloat16
    y.float().square().sum().backward()
    ref_x, ref_w = x.detach().requires_grad_(), w.detach().requires_grad_()
    F.conv1d(F.pad(ref_x.mT, (6, 0)), ref_w, groups=16).mT.square().sum().backward()
    assert x.grad.dtype == w.grad.dtype == torch.float32
    torch.testing.assert_close(w.grad, ref_w.grad, rtol=0.05, atol=0.5)
    torch.testing.assert_close(x.grad, ref_x.grad, rtol=0.05, atol=0.5)


@pytest.mark.parametrize("route", ROUTES, indirect=True)
def test_double_backward_is_rejected(route):
    x = torch.randn(2, 3, 16, requires_grad=True)
    w = torch.randn(3, 1, 3, requires_grad=True)
    (gx,) = torch.autograd.grad(D.depthwise_conv1d(x, w).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        gx.sum().backward()


def test_env_var_disables_numba():
    code = (
        "import dsconv.layers.depthwise1d as D, torch; "
        "assert D._numba is None and not D.USE_NUMBA; "
        "D.MIN_TORCH_MACS = 0; x = torch.randn(2, 3, 40, requires_grad=True); "
        "D.depthwise_conv1d(x, torch.randn(3, 1, 5), None, 1, (4, 0)).sum().backward(); print('ok')"
    )
    env = dict(os.environ, DSCONV_NO_NUMBA="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


@pytest.mark.parametrize(
    "padding,stride,dm", [("same", 1, 1), ("same", 2, 2), ("causal", 1, 1), ("valid", 1, 3)]
)
def test_layer_takes_the_fast_route_and_matches_torch(padding, stride, dm):
    """DepthwiseConv1d at a size that dispatches to the fast route equals nn.Conv1d(groups=C)
    on the same TF-padded input, values and both gradients."""
    layer = DepthwiseConv1d(16, 9, stride, padding, depth_multiplier=dm, bias=True)
    x = torch.randn(4, 16, 301, requires_grad=True)
    macs = 4 * 16 * dm * 9 * 150
    assert D._route(x, layer.weight, layer.bias, macs) != "native"
    y = layer(x)
    ref = torch.nn.Conv1d(16, 16 * dm, 9, stride, groups=16, bias=True)
    ref.load_state_dict(layer.state_dict())
    x2 = x.detach().clone().requires_grad_(True)
    pads = {"same": (4, 4), "causal": (8, 0), "valid": (0, 0)}  # TF: total 8 at 301, either stride
    y_ref = ref(F.pad(x2, pads[padding]))
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    gy = torch.randn_like(y)
    y.backward(gy)
    y_ref.backward(gy)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.weight.grad, ref.weight.grad, rtol=1e-5, atol=1e-4)
    sep = SeparableConv1d(16, 8, 9, padding="causal")  # the separable layer uses it too
    assert sep(x).shape == (4, 8, 301)


@pytest.mark.skipif(D._numba is None, reason="numba not installed")
def test_numba_backward_is_the_same_to_the_bit_every_run_and_thread_count(monkeypatch):
    """grad_weight / grad_bias sum over the batch in partial sums. Each worker used to keep
    its own, over whichever chunks of rows it pulled, so the grouping (and the float sums)
    changed from run to run and with the thread count: seeded trainings ended apart."""
    monkeypatch.setattr(D, "USE_NUMBA", True)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 6, 160, generator=g)
    w, b = torch.randn(12, 1, 9, generator=g), torch.randn(12, generator=g)
    gy = torch.randn(48, 12, 80, generator=g)
    threads = torch.get_num_threads()

    def grads(n_threads: int) -> list[torch.Tensor]:
        torch.set_num_threads(n_threads)
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        D.depthwise_conv1d(*leaves, 2, (4, 4), 1).backward(gy)  # stride 2, depth multiplier 2
        return [t.grad for t in leaves]

    try:
        ref = grads(1)
        for _ in range(8):  # 2 workers pulling many chunks: a new grouping each run, before
            for name, a, r in zip(("input", "weight", "bias"), grads(2), ref):
                assert torch.equal(a, r), f"grad_{name} differs from the 1-thread run"
    finally:
        torch.set_num_threads(threads)


@st.composite
def branch_cases(draw):
    """Several kernels over one input, each padded to the same output length (e.g. 'same')."""
    d, s = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    Ks = draw(st.lists(st.integers(1, 10), min_size=1, max_size=3))
    span = d * (max(Ks) - 1)
    extra = draw(st.integers(0, 3))  # total padding of the widest kernel beyond its span
    pads = []
    for K in Ks:
        total = span + extra - (span - d * (K - 1))  # the same L_out for every branch
        left = draw(st.integers(0, total))
        pads.append((left, total - left))
    L = max(1, 1 - extra) + draw(st.integers(0, 30))  # short inputs too (< kernel)
    return dict(N=draw(st.integers(1, 3)), C=draw(st.integers(1, 4)), dm=draw(st.integers(1, 2)),
                L=L, Ks=Ks, pads=pads, s=s, d=d, gx=draw(st.booleans()))


@pytest.mark.parametrize("route", ROUTES, indirect=True)
@settings(max_examples=60, **PROPS)
@given(case=branch_cases())
def test_branches_equal_the_concatenated_convs(route, case):
    """XceptionTime's fused branches: one kernel for every kernel size equals the separate
    convs concatenated, values and gradients (grad_input summed over the branches)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(case["N"], case["C"], case["L"], generator=g, dtype=torch.float64)
    ws = [torch.randn(case["C"] * case["dm"], 1, K, generator=g, dtype=torch.float64)
          for K in case["Ks"]]
    ours = [t.clone().requires_grad_(i > 0 or case["gx"]) for i, t in enumerate([x, *ws])]
    ref = [t.clone().requires_grad_(i > 0 or case["gx"]) for i, t in enumerate([x, *ws])]
    assert D.fuses_branches(ours[0], ours[1:]) == (route == "numba")
    y = D.depthwise_conv1d_branches(ours[0], ours[1:], case["pads"], case["s"], case["d"])
    y_ref = torch.cat([F.conv1d(F.pad(ref[0], p), w, None, case["s"], 0, case["d"], case["C"])
                       for w, p in zip(ref[1:], case["pads"])], 1)
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    y.backward(gy)
    y_ref.backward(gy)
    for a, b in zip(ours, ref):
        assert (a.grad is None) == (b.grad is None)
        if b.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-10)


def test_branches_of_unequal_lengths_are_a_clear_error():
    x, ws = torch.randn(2, 3, 20), [torch.randn(3, 1, 5), torch.randn(3, 1, 3)]
    with pytest.raises(ValueError, match=r"one length.*lengths \[20, 18\]"):
        D.depthwise_conv1d_branches(x, ws, [(2, 2), (0, 0)])
    with pytest.raises(ValueError, match="one padding per weight"):
        D.depthwise_conv1d_branches(x, ws, [(2, 2)])
