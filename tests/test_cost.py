"""The profiler counts what runs; the counts must equal the closed-form formulas."""

import math

from hypothesis import given
from hypothesis import strategies as st

from dsconv.cost import formulas, profile
from dsconv.layers import CONV, DEPTHWISE, POINTWISE, SEPARABLE

dims_st = st.integers(1, 3)
ch_st = st.integers(1, 24)


def spatial(dims, size):
    return (size,) * dims


@given(dims=dims_st, k=st.integers(1, 5), m=ch_st, n=ch_st, size=st.integers(5, 12),
       stride=st.integers(1, 2))
def test_standard_conv_matches_formula(dims, k, m, n, size, stride):
    p = profile(CONV[dims](m, n, k, stride), spatial(dims, size), in_chans=m)
    df = math.ceil(size / stride)
    assert p.macs == formulas.standard_macs(k, m, n, df, dims)
    assert p.trainable_params == formulas.standard_params(k, m, n, dims)


@given(dims=dims_st, k=st.integers(1, 5), m=ch_st, dm=st.integers(1, 3),
       size=st.integers(5, 12), stride=st.integers(1, 2), bias=st.booleans())
def test_depthwise_matches_formula(dims, k, m, dm, size, stride, bias):
    layer = DEPTHWISE[dims](m, k, stride, depth_multiplier=dm, bias=bias)
    p = profile(layer, spatial(dims, size), in_chans=m)
    df = math.ceil(size / stride)
    assert p.rows[0].type == "depthwise"
    assert p.macs == formulas.depthwise_macs(k, m, df, dm, dims)
    assert p.trainable_params == formulas.depthwise_params(k, m, dm, dims, bias)


@given(dims=dims_st, m=ch_st, n=ch_st, size=st.integers(1, 12), bias=st.booleans())
def test_pointwise_matches_formula(dims, m, n, size, bias):
    p = profile(POINTWISE[dims](m, n, bias=bias), spatial(dims, size), in_chans=m)
    assert p.rows[0].type == "pointwise"
    assert p.macs == formulas.pointwise_macs(m, n, size, dims)
    assert p.trainable_params == formulas.pointwise_params(m, n, bias)


@given(dims=dims_st, k=st.sampled_from([1, 3, 5]), m=ch_st, n=ch_st, size=st.integers(4, 10))
def test_separable_matches_formula_and_ratio(dims, k, m, n, size):
    sep = profile(SEPARABLE[dims](m, n, k), spatial(dims, size), in_chans=m)
    std = profile(CONV[dims](m, n, k), spatial(dims, size), in_chans=m)
    assert sep.macs == formulas.separable_macs(k, m, n, size, dims)
    assert sep.trainable_params == formulas.separable_params(k, m, n, dims)
    # Bias-free twins: cost ratio 1/N + 1/Dk^d, for MACs and for parameters.
    assert math.isclose(sep.macs / std.macs, formulas.separable_ratio(k, n, dims), rel_tol=1e-12)
    assert math.isclose(sep.trainable_params / std.trainable_params,
                        formulas.separable_ratio(k, n, dims), rel_tol=1e-12)


def test_seed_arithmetic_mobilenet_example():
    # MobileNet paper, section 3.1 / Table 2 example: Dk=3, M=512, N=512, Df=14.
    std = formulas.standard_macs(3, 512, 512, 14)
    sep = formulas.separable_macs(3, 512, 512, 14)
    assert std == 462_422_016 and sep == 52_283_392
    assert math.isclose(sep / std, 1 / 512 + 1 / 9)


def test_profile_rows_describe_layers():
    layer = SEPARABLE[2](8, 16, 3, stride=2)
    p = profile(layer, (10, 10), in_chans=8)
    assert [r.type for r in p.rows if r.type != "Identity"] == ["depthwise", "pointwise"]
    assert p.rows[-1].output_shape == (16, 5, 5)
    assert p.rows[-1].act_bytes == 16 * 5 * 5 * 4
