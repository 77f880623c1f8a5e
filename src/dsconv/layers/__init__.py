"""The depthwise separable convolution family, with TensorFlow-exact 'same' padding, and fixed
(hand-crafted, never trained) 1-D filters."""

from .conv import (
    CONV,
    DEPTHWISE,
    POINTWISE,
    Conv1d,
    Conv2d,
    Conv3d,
    DepthwiseConv1d,
    DepthwiseConv2d,
    DepthwiseConv3d,
    PointwiseConv1d,
    PointwiseConv2d,
    PointwiseConv3d,
)
from .depthwise1d import (
    depthwise_conv1d,
    depthwise_conv1d_branches,
    depthwise_conv1d_last,
    fuses_branches,
)
from .handcrafted import FilterBank1d, FixedConv1d, lite_filters
from .padding import pad_same, same_pad_amounts
from .pointwise1d import pointwise_conv1d
from .pool import MAXPOOL, AdaptiveAvgPool1d, MaxPool1dSame, MaxPool2dSame, MaxPool3dSame
from .separable import (
    SEPARABLE,
    SeparableConv,
    SeparableConv1d,
    SeparableConv2d,
    SeparableConv3d,
    separable_branches,
)

__all__ = [
    "CONV", "DEPTHWISE", "POINTWISE", "SEPARABLE", "MAXPOOL",
    "Conv1d", "Conv2d", "Conv3d",
    "DepthwiseConv1d", "DepthwiseConv2d", "DepthwiseConv3d",
    "PointwiseConv1d", "PointwiseConv2d", "PointwiseConv3d",
    "SeparableConv", "SeparableConv1d", "SeparableConv2d", "SeparableConv3d",
    "MaxPool1dSame", "MaxPool2dSame", "MaxPool3dSame",
    "AdaptiveAvgPool1d", "depthwise_conv1d", "depthwise_conv1d_branches", "depthwise_conv1d_last",
    "fuses_branches", "pad_same", "pointwise_conv1d", "same_pad_amounts", "separable_branches",
    "FilterBank1d", "FixedConv1d", "lite_filters",
]
