"""Closed-form costs from the MobileNet paper (section 3.1), in D dimensions.

Notation: kernel Dk, input channels M, output channels N, output feature map Df (per axis).
Multiply-adds (MACs), bias-free:

    standard     Dk^d * M * N * Df^d
    depthwise    Dk^d * M * Df^d              (times the depth multiplier)
    pointwise    M * N * Df^d
    separable    depthwise + pointwise
    separable / standard = 1/N + 1/Dk^d       (with depth multiplier 1)

Parameters drop the Df^d factor. d = 2 for images, 1 for sequences, 3 for volumes.
"""

from __future__ import annotations


def standard_macs(dk: int, m: int, n: int, df: int, dims: int = 2) -> int:
    """Dk^d * M * N * Df^d."""
    return dk**dims * m * n * df**dims


def depthwise_macs(dk: int, m: int, df: int, depth_multiplier: int = 1, dims: int = 2) -> int:
    """Dk^d * M * Df^d (times the depth multiplier)."""
    return dk**dims * m * depth_multiplier * df**dims


def pointwise_macs(m: int, n: int, df: int, dims: int = 2) -> int:
    """M * N * Df^d."""
    return m * n * df**dims


def separable_macs(dk: int, m: int, n: int, df: int, dims: int = 2) -> int:
    """Dk^d * M * Df^d + M * N * Df^d."""
    return depthwise_macs(dk, m, df, dims=dims) + pointwise_macs(m, n, df, dims)


def standard_params(dk: int, m: int, n: int, dims: int = 2, bias: bool = False) -> int:
    """Dk^d * M * N (+ N biases)."""
    return dk**dims * m * n + (n if bias else 0)


def depthwise_params(dk: int, m: int, depth_multiplier: int = 1, dims: int = 2,
                     bias: bool = False) -> int:
    """Dk^d * M * depth_multiplier (+ M * depth_multiplier biases)."""
    return dk**dims * m * depth_multiplier + (m * depth_multiplier if bias else 0)


def pointwise_params(m: int, n: int, bias: bool = False) -> int:
    """M * N (+ N biases)."""
    return m * n + (n if bias else 0)


def separable_params(dk: int, m: int, n: int, dims: int = 2) -> int:
    """Dk^d * M + M * N."""
    return depthwise_params(dk, m, dims=dims) + pointwise_params(m, n)


def separable_ratio(dk: int, n: int, dims: int = 2) -> float:
    """Cost of a separable conv relative to a standard one: 1/N + 1/Dk^d."""
    return 1.0 / n + 1.0 / dk**dims
