"""The layer family: TF-'same' padding by hand, shapes, orders, the spectrum, bad arguments."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dsconv.layers import (
    Conv1d,
    Conv2d,
    DepthwiseConv1d,
    DepthwiseConv2d,
    DepthwiseConv3d,
    MaxPool2dSame,
    PointwiseConv2d,
    SeparableConv1d,
    SeparableConv2d,
    SeparableConv3d,
)
from dsconv.layers.padding import pad_same


def ones_conv(conv):
    with torch.no_grad():
        conv.weight.fill_(1.0)
    return conv


def test_same_conv_stride2_even_pads_bottom_right():
    # 4x4, kernel 3, stride 2: total pad 1 goes after (TensorFlow), not before.
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = ones_conv(Conv2d(1, 1, 3, 2))(x)
    assert y.tolist() == [[[[45.0, 39.0], [66.0, 50.0]]]]


def test_same_conv_stride2_odd_1d():
    # 5 samples, kernel 3, stride 2: total pad 2 -> one each side; 4 samples -> (0, 1).
    y5 = ones_conv(Conv1d(1, 1, 3, 2))(torch.arange(1.0, 6.0).reshape(1, 1, 5))
    assert y5.flatten().tolist() == [3.0, 9.0, 9.0]
    y4 = ones_conv(Conv1d(1, 1, 3, 2))(torch.arange(1.0, 5.0).reshape(1, 1, 4))
    assert y4.flatten().tolist() == [6.0, 7.0]


def test_same_maxpool_stride2_even_and_odd():
    x4 = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert MaxPool2dSame(3, 2)(x4).tolist() == [[[[10.0, 11.0], [14.0, 15.0]]]]
    # PyTorch's symmetric padding differs here: this is the Xception 74 -> 37 pixel shift.
    assert nn.MaxPool2d(3, 2, padding=1)(x4).tolist() != [[[[10.0, 11.0], [14.0, 15.0]]]]
    x5 = torch.arange(25.0).reshape(1, 1, 5, 5)
    assert MaxPool2dSame(3, 2)(x5).tolist() == [[[[6.0, 8.0, 9.0], [16.0, 18.0, 19.0],
                                                   [21.0, 23.0, 24.0]]]]
    # Negative inputs: padded cells must never win the max (they are -inf, not 0).
    assert MaxPool2dSame(3, 2)(-1 - x4).max() < 0


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 23), w=st.integers(1, 23), k=st.integers(1, 5), s=st.integers(1, 4))
def test_same_maxpool_equals_pad_with_minus_inf_then_pool(h, w, k, s):
    # The layer pools with PyTorch's own padding + ceil_mode (no copy); this is the definition.
    x = torch.randn(2, 3, h, w) - 5
    ref = nn.functional.max_pool2d(pad_same(x, (k, k), (s, s), (1, 1), float("-inf")), k, s)
    assert torch.equal(MaxPool2dSame(k, s)(x), ref)
    assert MaxPool2dSame(k, s)(x).shape[-2:] == (-(-h // s), -(-w // s))


def test_explicit_asymmetric_padding_is_keras_zero_padding():
    x = torch.arange(1.0, 6.0).reshape(1, 1, 5)
    y = ones_conv(Conv1d(1, 1, 3, 2, padding=((0, 1),)))(x)
    assert y.flatten().tolist() == [6.0, 12.0]


@pytest.mark.parametrize("size", [7, 8, 19, 74])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2), (3, 1)])
def test_same_output_size_is_ceil(size, stride, dilation):
    y = Conv2d(2, 3, 3, stride, dilation=dilation)(torch.randn(1, 2, size, size + 1))
    assert y.shape[-2:] == (-(-size // stride), -(-(size + 1) // stride))


def test_depthwise_shapes_and_grouping():
    d = DepthwiseConv2d(4, 3, depth_multiplier=3)
    assert d.weight.shape == (12, 1, 3, 3) and d.groups == 4
    x = torch.zeros(1, 4, 6, 6)
    x[:, 1] = 1.0  # only channel 1 is non-zero: only outputs 3..5 may respond
    with torch.no_grad():
        d.weight.fill_(1.0)
    y = d(x)
    assert y[:, 3:6].abs().sum() > 0 and y[:, :3].abs().sum() == 0 and y[:, 6:].abs().sum() == 0
    assert DepthwiseConv1d(3, 5, stride=2)(torch.randn(2, 3, 9)).shape == (2, 3, 5)
    assert DepthwiseConv3d(3, 3)(torch.randn(1, 3, 4, 5, 6)).shape == (1, 3, 4, 5, 6)


@pytest.mark.parametrize("cls,shape", [(SeparableConv1d, (2, 6, 17)),
                                       (SeparableConv2d, (2, 6, 9, 11)),
                                       (SeparableConv3d, (1, 6, 5, 6, 7))])
@pytest.mark.parametrize("order", ["depthwise_first", "pointwise_first"])
def test_separable_shapes(cls, shape, order):
    m = cls(6, 10, 3, stride=2, order=order, mid_norm=None, mid_act=nn.ReLU)
    y = m(torch.randn(*shape))
    assert y.shape == (shape[0], 10, *[-(-s // 2) for s in shape[2:]])


def test_separable_equals_depthwise_then_pointwise():
    sep = SeparableConv2d(5, 7, 3, depth_multiplier=2, bias=True)
    dw = DepthwiseConv2d(5, 3, depth_multiplier=2)
    pw = PointwiseConv2d(10, 7, bias=True)
    dw.load_state_dict(sep.depthwise.state_dict())
    pw.load_state_dict(sep.pointwise.state_dict())
    x = torch.randn(2, 5, 8, 8)
    torch.testing.assert_close(sep(x), pw(dw(x)))


def test_pointwise_first_is_extreme_inception():
    sep = SeparableConv2d(5, 8, 3, order="pointwise_first")
    x = torch.randn(1, 5, 6, 6)
    torch.testing.assert_close(sep(x), sep.depthwise(sep.pointwise(x)))
    assert sep.pointwise.in_channels == 5 and sep.depthwise.groups == 8


def test_segments_span_regular_to_depthwise():
    # segments=1: the spatial step is a regular convolution (an Inception tower).
    full = SeparableConv2d(8, 8, 3, segments=1)
    assert full.depthwise.groups == 1 and full.depthwise.weight.shape == (8, 8, 3, 3)
    mid = SeparableConv2d(8, 8, 3, segments=4)
    assert mid.depthwise.groups == 4
    params = [sum(p.numel() for p in SeparableConv2d(8, 8, 3, segments=s).parameters())
              for s in (1, 2, 4, 8)]
    assert params == sorted(params, reverse=True)
    assert mid(torch.randn(1, 8, 5, 5)).shape == (1, 8, 5, 5)


@pytest.mark.parametrize("order", ["depthwise_first", "pointwise_first"])
def test_super_separable_is_separable_convs_side_by_side(order):
    # SliceNet's super-separable conv: g separable convs over channel slices, no mixing.
    sup = SeparableConv1d(8, 12, 3, groups=2, order=order)
    halves = [SeparableConv1d(4, 6, 3, order=order) for _ in range(2)]
    with torch.no_grad():
        for i, half in enumerate(halves):
            dw_in = slice(4 * i, 4 * i + 4) if order == "depthwise_first" else slice(6 * i,
                                                                                      6 * i + 6)
            half.depthwise.weight.copy_(sup.depthwise.weight[dw_in])
            half.pointwise.weight.copy_(sup.pointwise.weight[6 * i:6 * i + 6])
    x = torch.randn(2, 8, 11)
    torch.testing.assert_close(sup(x), torch.cat([h(x[:, 4 * i:4 * i + 4])
                                                  for i, h in enumerate(halves)], 1))
    assert sum(p.numel() for p in sup.parameters()) == sum(
        p.numel() for h in halves for p in h.parameters())
    with pytest.raises(ValueError, match="groups=3: must be a positive divisor of the 1x1"):
        SeparableConv1d(8, 12, 3, groups=3)


@pytest.mark.parametrize("make", [
    lambda: SeparableConv1d(4, 6, 5, padding="causal", dilation=2),
    lambda: SeparableConv1d(4, 6, 3, padding="causal", order="pointwise_first", groups=2),
    lambda: Conv1d(4, 6, 4, padding="causal", dilation=3),
])
def test_forward_valid_is_the_causal_conv_at_its_last_position(make):
    # Incremental decoding feeds the last (k-1)*d inputs and the new one, unpadded.
    conv = make()
    x = torch.randn(2, 4, 15)
    spatial = getattr(conv, "depthwise", conv)  # the step with the kernel
    k, d = spatial.kernel_size[0], spatial.dilation[0]
    window = x[..., -((k - 1) * d + 1):]
    torch.testing.assert_close(conv.forward_valid(window), conv(x)[..., -1:])


@pytest.mark.parametrize("make", [
    lambda: SeparableConv1d(8, 12, 5, padding="causal", dilation=2),
    lambda: SeparableConv1d(8, 12, 4, groups=4),  # even kernel: TF's asymmetric 'same'
    lambda: SeparableConv1d(8, 12, 3, order="pointwise_first", groups=2, mid_act=nn.ReLU),
    lambda: SeparableConv1d(8, 12, 3, stride=2, mid_norm=nn.BatchNorm1d, bias=True),
    lambda: SeparableConv1d(8, 16, 3, depth_multiplier=2),
    lambda: Conv1d(8, 12, 4, padding="causal"),
    lambda: SeparableConv2d(8, 12, 3),
    lambda: PointwiseConv2d(8, 12, stride=2, bias=True),
])
def test_forward_last_is_forward_on_channels_last_data(make):
    # Sequence models hold (N, L, C): the same numbers and gradients without moving channels.
    m = make().double().eval()
    x = torch.randn(2, 8, *[11] * m.dims, dtype=torch.float64, requires_grad=True)
    ref = m(x)
    got = m.forward_last(x.movedim(1, -1)).movedim(-1, 1)
    torch.testing.assert_close(got, ref)
    g = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(got, [x, *m.parameters()], g),
                    torch.autograd.grad(ref, [x, *m.parameters()], g)):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match=r"expects 8 input channels, got 11"):
        m.forward_last(x)  # channels first by mistake


def test_mid_norm_and_act_sit_between_steps():
    sep = SeparableConv2d(3, 4, 3, mid_norm=nn.BatchNorm2d, mid_act=nn.ReLU).eval()
    x = torch.randn(1, 3, 6, 6)
    expected = sep.pointwise(torch.relu(sep.mid_norm(sep.depthwise(x))))
    torch.testing.assert_close(sep(x), expected)


@pytest.mark.parametrize("make,word", [
    (lambda: DepthwiseConv2d(4, 3, depth_multiplier=0), "depth_multiplier=0"),
    (lambda: SeparableConv2d(4, 8, 3, depth_multiplier=-1), "depth_multiplier=-1"),
    (lambda: SeparableConv2d(4, 8, 3, stride=2, dilation=2), "dilation"),
    (lambda: SeparableConv2d(6, 8, 3, segments=4), "segments=4"),
    (lambda: SeparableConv2d(6, 8, 3, order="sideways"), "order='sideways'"),
    (lambda: SeparableConv2d(6, 8, 3, padding="full"), "padding='full'"),
    (lambda: SeparableConv2d(0, 8, 3), "in_channels=0"),
    (lambda: Conv2d(3, 4, (3, 3, 3)), "kernel_size"),
    (lambda: SeparableConv2d(4, 8, 3, order="pointwise_first", depth_multiplier=2),
     "depth_multiplier=2"),
])
def test_bad_arguments_name_the_problem(make, word):
    with pytest.raises(ValueError, match=word.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_wrong_input_channels_is_a_clear_error():
    with pytest.raises(ValueError, match="expects 4 input channels"):
        SeparableConv2d(4, 8, 3)(torch.randn(1, 3, 8, 8))


@pytest.mark.parametrize("k,d", [(3, 1), (5, 2), (4, 3)])
def test_causal_padding_sees_only_the_past(k, d):
    from dsconv.layers import Conv2d, SeparableConv1d

    conv = SeparableConv1d(3, 4, k, padding="causal", dilation=d)
    x = torch.randn(2, 3, 20)
    y = conv(x)
    assert y.shape == (2, 4, 20)  # Keras: output length = input length
    for t in (0, 7, 19):
        x2 = x.clone()
        x2[..., t + 1:] = torch.randn_like(x2[..., t + 1:])
        torch.testing.assert_close(conv(x2)[..., :t + 1], y[..., :t + 1])
        if t < 19:
            assert not torch.allclose(conv(x2)[..., t + 1:], y[..., t + 1:])
    with pytest.raises(ValueError, match="1-D layers only"):
        Conv2d(3, 4, 3, padding="causal")


@pytest.mark.parametrize("tracing", [False, True])
def test_adaptive_avg_pool_equals_torch(monkeypatch, tracing):
    """The averaging matrix (cached, or built from the symbolic length under tracing) gives
    torch's windows at every length, shorter than the output (windows overlap) and longer
    (they do not divide evenly), values and gradients."""
    import dsconv.layers.pool as pool

    monkeypatch.setattr(pool, "is_tracing", lambda: tracing)
    g = torch.Generator().manual_seed(0)
    for out in (1, 7, 50):
        layer = pool.AdaptiveAvgPool1d(out)
        for length in (1, 3, 37, 50, 64, 129, 301):
            x = torch.randn(2, 3, length, generator=g, requires_grad=True)
            y, ref = layer(x), nn.functional.adaptive_avg_pool1d(x, out)
            torch.testing.assert_close(y, ref)
            dy = torch.randn_like(y)
            torch.testing.assert_close(torch.autograd.grad(y, x, dy)[0],
                                       torch.autograd.grad(ref, x, dy)[0])


def test_adaptive_avg_pool_trains_after_an_inference_mode_call():
    """The cached matrix made under inference_mode must still serve a training step."""
    from dsconv.layers import AdaptiveAvgPool1d

    layer = AdaptiveAvgPool1d(5)
    with torch.inference_mode():
        layer(torch.randn(1, 2, 23))
    x = torch.randn(1, 2, 23, requires_grad=True)
    layer(x).sum().backward()
    torch.testing.assert_close(x.grad.sum(), torch.tensor(10.0))  # each window averages to 1


def test_lite_filters_as_the_authors_build_them():
    from dsconv.layers import lite_filters
    from dsconv.layers.handcrafted import peak_filter

    fs = lite_filters()  # increasing 2..64, decreasing 2..64, peaks 4..64 (1.5k taps)
    assert [len(f) for f in fs] == [2, 4, 8, 16, 32, 64] * 2 + [6, 12, 24, 48, 96]
    assert fs[1].tolist() == [-1, 1, -1, 1] and fs[7].tolist() == [1, -1, 1, -1]
    assert fs[12].tolist() == [-1, -1, 2, 2, -1, -1]
    # k = 8: lobes of k // 4 = 2 taps, left = linspace(0, 1, 3)[1:] ** 2 = (0.25, 1).
    assert fs[13].tolist() == [-.25, -1, -1, -.25, .5, 2, 2, .5, -.25, -1, -1, -.25]
    with pytest.raises(ValueError, match="peak filter length 6: must be a positive multiple of 4"):
        peak_filter(6)


def test_fixed_filters_are_buffers_with_tf_same_padding_summed_over_channels():
    from dsconv.layers import FilterBank1d, lite_filters
    from dsconv.models.base import init_weights

    bank = FilterBank1d(3, lite_filters((2, 4)))  # increasing 2, 4; decreasing 2, 4; peak 4
    init_weights(bank)  # a model's initialiser must not touch them
    assert list(bank.parameters()) == [] and len(list(bank.buffers())) == 5
    assert bank.convs[0].weight.tolist() == [[[-1, 1]] * 3]
    x = torch.zeros(1, 3, 6)
    x[0, 1, 2] = 1.0  # one impulse in channel 1 at t = 2
    y = bank(x)
    assert y.shape == (1, 5, 6)
    # k = 2 pads 0 before, 1 after (TensorFlow): y[t] = -x[t] + x[t+1]; torch's symmetric
    # padding could not even give a length-6 output here.
    assert y[0, 0].tolist() == [0, 1, -1, 0, 0, 0]
    # Every input channel is filtered the same way and summed (one Keras Conv1D, filters=1).
    assert torch.equal(bank(x.roll(1, 1)), y)
    assert torch.equal(bank(x + x.roll(1, 1)), 2 * y)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), length=st.integers(1, 40), k=st.integers(1, 5),
       data=st.data())
def test_stride1_max_pool_equals_aten_to_the_bit(n, c, length, k, data):
    """The numba stride-1 max-pool (the multi-kernel module's pool branch) gives aten's values
    and gradients to the bit: ties (the first maximum wins), -inf, NaN (the last NaN wins)."""
    from dsconv.layers import depthwise1d as D
    from dsconv.layers import pool as P

    if P._numba is None:
        pytest.skip("numba not installed")
    p = data.draw(st.integers(0, k // 2))
    if length + 2 * p < k:
        return
    g = torch.Generator().manual_seed(length * 31 + k)
    x = torch.randint(-2, 3, (n, c, length), generator=g).float()  # many ties
    x[x == -2] = float("-inf")
    x[x == 2] = data.draw(st.sampled_from([float("nan"), 2.0]))
    old = D.MIN_NUMBA_MACS
    D.MIN_NUMBA_MACS = 0
    try:
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        assert P._numba_pool(xa, k, p)
        a = P._max_pool1d(xa, (k,), (1,), (p,))
    finally:
        D.MIN_NUMBA_MACS = old
    b = nn.functional.max_pool2d(xb.unsqueeze(2), (1, k), 1, (0, p)).squeeze(2)
    assert torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())
    gy = torch.randn(a.shape, generator=g)
    a.backward(gy)
    b.backward(gy)
    assert torch.equal(xa.grad, xb.grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [False, True])
def test_pointwise_conv1d_as_a_matmul_equals_the_conv(dtype, bias):
    """The 1x1 Conv1d's matmul route: values and the gradients of input, weight and bias equal
    F.conv1d's over random shapes (one sample, one step, one channel included)."""
    from dsconv.layers import PointwiseConv1d
    from dsconv.layers.pointwise1d import uses_matmul

    g = torch.Generator().manual_seed(0)
    for n, c, o, length in [(1, 1, 1, 1), (3, 5, 7, 1), (2, 16, 3, 37), (4, 8, 24, 129)]:
        layer = PointwiseConv1d(c, o, bias=bias).to(dtype)
        x = torch.randn(n, c, length, dtype=dtype, generator=g, requires_grad=True)
        assert uses_matmul(x, layer.weight)
        y = layer(x)
        ref = nn.functional.conv1d(x, layer.weight, layer.bias)
        torch.testing.assert_close(y, ref)
        dy = torch.randn(y.shape, dtype=dtype, generator=g)
        params = [x, layer.weight] + ([layer.bias] if bias else [])
        # The weight gradient sums n * length products in another order than the conv's
        # (oneDNN's AVX-512 kernels differ from bmm by ~1e-5 relative in fp32)
        tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {}
        for a, b in zip(torch.autograd.grad(y, params, dy), torch.autograd.grad(ref, params, dy)):
            torch.testing.assert_close(a, b, **tol)


def test_pointwise_conv1d_keeps_the_conv_where_it_must():
    """Grouped 1x1s, autocast and tracing take F.conv1d: an exported graph holds a Conv (which
    ONNX Runtime fuses with the BatchNorm after it), not a MatMul."""
    from dsconv.layers import PointwiseConv1d
    from dsconv.layers.pointwise1d import uses_matmul

    x = torch.randn(2, 8, 10)
    assert not uses_matmul(x, torch.randn(4, 4, 1), groups=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not uses_matmul(x, torch.randn(4, 8, 1))
    layer = PointwiseConv1d(8, 4, groups=2)
    torch.testing.assert_close(layer(x), nn.functional.conv1d(x, layer.weight, groups=2))
    graph = str(torch.export.export(PointwiseConv1d(8, 4), (x,)).graph)
    assert "conv1d" in graph and "matmul" not in graph, graph
