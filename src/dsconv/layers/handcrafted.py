"""Hand-crafted 1-D filters that are never trained: LITE's custom filters.

Ismail-Fawaz et al. (ICMLA 2022, "Deep learning for time series classification using new
hand-crafted convolution filters"; LITE, DSAA 2023) add fixed filters beside a network's first
learned convolutions. As the authors' code (MSD-IRIMAS/LITE, `hybird_layer`) builds them, for
lengths k in (2, 4, 8, 16, 32, 64):

    increasing  k taps      [-1, 1, -1, 1, ...]   (sums x[t+1] - x[t]: positive on a rise)
    decreasing  k taps      [ 1, -1, 1, -1, ...]
    peak        1.5k taps   -left, -right, 2 left, 2 right, -left, -right   (k // 4 taps each,
                            left = (i / (k//4))^2 for i = 1..k//4, right = left reversed)
                            for every length but the first (k = 2 has k // 4 = 0 taps per part)

Keras's Conv1D, like torch's, is a cross-correlation, so the taps are used as written. Each
filter is one Conv1D with a single output whose kernel repeats the taps over every input
channel: it sums the filtered channels (for the authors' univariate input, it filters the one).
'same' padding is TensorFlow's: every length here is even, so the extra zero goes at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .conv import Conv1d

LITE_FILTER_LENGTHS = (2, 4, 8, 16, 32, 64)


def increasing_filter(k: int) -> torch.Tensor:
    """(k,) taps -1, 1, -1, ... (index even: -1): responds to rises."""
    return torch.tensor([1.0 if i % 2 else -1.0 for i in range(k)])


def decreasing_filter(k: int) -> torch.Tensor:
    """(k,) taps 1, -1, 1, ... (index odd: -1): responds to falls."""
    return -increasing_filter(k)


def peak_filter(k: int) -> torch.Tensor:
    """(k + k // 2,) taps: a negative lobe, a positive one twice as high, a negative one, each
    two parabolic halves of k // 4 taps. k must be a positive multiple of 4."""
    if k <= 0 or k % 4:
        raise ValueError(f"peak filter length {k}: must be a positive multiple of 4")
    q = k // 4
    left = (torch.arange(1, q + 1, dtype=torch.float64) / q) ** 2  # linspace(0, 1, q+1)[1:]
    half = torch.cat([left, left.flip(0)])
    return torch.cat([-half, 2 * half, -half]).float()


def lite_filters(lengths: Sequence[int] = LITE_FILTER_LENGTHS) -> list[torch.Tensor]:
    """LITE's custom filters in the authors' order: increasing for every length, decreasing for
    every length, peaks for every length but the first (17 filters for the default lengths)."""
    lengths = tuple(lengths)
    if not lengths or any(not isinstance(k, int) or k < 1 for k in lengths):
        raise ValueError(f"custom filter lengths {lengths!r}: expected positive ints")
    return ([increasing_filter(k) for k in lengths] + [decreasing_filter(k) for k in lengths]
            + [peak_filter(k) for k in lengths[1:]])


class FixedConv1d(Conv1d):
    """A 1-D convolution with given weights that are never trained: (N, C_in, L) -> (N, C_out, L).

    The weight (C_out, C_in, k) is a buffer, not a parameter: no optimizer, freezing switch or
    initialiser can change it, and it is saved with the model. The cost profile counts it as
    non-trainable, as Keras counts a `trainable=False` kernel. No bias; padding as `Conv1d`.
    """

    def __init__(self, weight: torch.Tensor, padding: str = "same") -> None:
        if weight.dim() != 3:
            raise ValueError(f"weight shape {tuple(weight.shape)}: expected (C_out, C_in, k)")
        out_ch, in_ch, k = weight.shape
        super().__init__(in_ch, out_ch, k, 1, padding)
        del self.weight
        self.register_buffer("weight", weight.detach().float().clone(
            memory_format=torch.contiguous_format))


class FilterBank1d(nn.Module):
    """Fixed filters side by side: (N, in_channels, L) -> (N, len(filters), L).

    Output channel i is filter i applied with TensorFlow 'same' padding to every input channel
    and summed over them (one Keras Conv1D with filters=1 per filter, as LITE builds them).
    """

    def __init__(self, in_channels: int, filters: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.out_channels = len(filters)
        self.convs = nn.ModuleList(
            FixedConv1d(f.reshape(1, 1, -1).expand(1, in_channels, -1)) for f in filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x) for conv in self.convs], 1)
