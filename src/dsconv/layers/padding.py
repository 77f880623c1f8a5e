"""TensorFlow-style padding, so that weights trained in Keras reproduce exactly.

TensorFlow's 'same' gives an output of ceil(size / stride) and, when the total padding is odd,
puts the extra pixel at the end (bottom / right). PyTorch's symmetric padding puts it on both
sides, which shifts stride-2 layers by one pixel: the classic cause of "ported weights are
slightly off" (Cadene/pretrained-models.pytorch#158).

When the padding does not depend on the input size (stride 1), it is static and symmetric, and
we hand it to the convolution itself (no extra copy). Otherwise it is computed per call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Padding = str | int | Sequence[int] | Sequence[Sequence[int]]


def check_positive(name: str, value: int | tuple[int, ...]) -> None:
    """Raise a ValueError naming `name` when any entry of `value` is not a positive int."""
    values = value if isinstance(value, tuple) else (value,)
    if any((not isinstance(v, int)) or isinstance(v, bool) or v <= 0 for v in values):
        raise ValueError(f"{name}={value!r}: must be a positive integer")


def to_tuple(value: int | Sequence[int], dims: int, name: str) -> tuple[int, ...]:
    """Expand an int to a `dims`-tuple; check a sequence has `dims` positive entries."""
    if isinstance(value, int):
        out = (value,) * dims
    else:
        out = tuple(int(v) for v in value)
        if len(out) != dims:
            raise ValueError(
                f"{name}={value!r}: expected an int or {dims} ints for a {dims}-D layer"
            )
    return out


def same_pad_amounts(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) padding of one axis under TensorFlow's 'same' rule.

    Integer arithmetic only (no math.ceil, no int()): under torch.export `size` is symbolic,
    and this keeps an exported model valid for every input size, not just the traced one.
    """
    effective = (kernel - 1) * dilation + 1
    out = (size + stride - 1) // stride
    total = (out - 1) * stride + effective - size
    if not isinstance(total, int):  # symbolic: a max the exporter can keep symbolic
        total = torch.sym_max(total, 0)
    else:
        total = max(total, 0)
    return total // 2, total - total // 2


def is_static_same(kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> bool:
    """True when 'same' padding is the same for every input size and symmetric.

    That holds for stride 1 with an odd effective kernel: total = effective - 1, even.
    """
    return all(s == 1 and ((k - 1) * d) % 2 == 0 for k, s, d in zip(kernel, stride, dilation))


def pad_same(
    x: torch.Tensor,
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
    value: float = 0.0,
) -> torch.Tensor:
    """Pad the trailing len(kernel) axes of `x` by TensorFlow's 'same' rule.

    x: (N, C, *spatial) -> (N, C, *padded spatial).
    """
    pads: list[int] = []
    spatial = x.shape[-len(kernel):]
    # F.pad takes the last axis first.
    for size, k, s, d in reversed(list(zip(spatial, kernel, stride, dilation))):
        pads.extend(same_pad_amounts(size, k, s, d))
    if all(isinstance(p, int) and p == 0 for p in pads):  # no guard on symbolic sizes
        return x
    return F.pad(x, pads, value=value)


def resolve_padding(
    padding: Padding,
    kernel: Sequence[int],
    stride: Sequence[int],
    dilation: Sequence[int],
) -> tuple[tuple[int, ...], bool, tuple[int, ...] | None]:
    """Turn a user's `padding` into (static torch padding, dynamic 'same', explicit F.pad pads).

    * 'same' with stride 1 and odd kernels becomes static symmetric padding; other 'same'
      cases pad per call (TensorFlow's rule).
    * 'valid' is zero padding; an int or a tuple of ints is symmetric, as in torch.
    * A tuple of (before, after) pairs, one per axis, is explicit and may be asymmetric:
      Keras's ZeroPadding2D(((0, 1), (0, 1))) + 'valid' is padding=((0, 1), (0, 1)).
    """
    dims = len(kernel)
    zeros = (0,) * dims
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return zeros, False, None
        if mode == "causal":
            if dims != 1:
                raise ValueError(f"padding='causal' is for 1-D layers only, not {dims}-D")
            # Keras: pad (k - 1) * dilation on the left only, so output t sees inputs <= t.
            return zeros, False, ((kernel[0] - 1) * dilation[0], 0)
        if mode == "same":
            if is_static_same(kernel, stride, dilation):
                return tuple((k - 1) * d // 2 for k, d in zip(kernel, dilation)), False, None
            return zeros, True, None
        raise ValueError(
            f"padding={padding!r}: expected 'same', 'valid', 'causal' (1-D), an int, a tuple "
            f"of {dims} ints or {dims} (before, after) pairs"
        )
    if not isinstance(padding, int) and any(not isinstance(p, int) for p in padding):
        pairs = [tuple(p) for p in padding]
        if len(pairs) != dims or any(len(p) != 2 or min(p) < 0 for p in pairs):
            raise ValueError(
                f"padding={padding!r}: expected {dims} (before, after) pairs of ints >= 0"
            )
        # F.pad takes the last axis first.
        return zeros, False, tuple(v for pair in reversed(pairs) for v in pair)
    pad = to_tuple(padding, dims, "padding")
    if any(p < 0 for p in pad):
        raise ValueError(f"padding={padding!r}: padding must be >= 0")
    return pad, False, None
