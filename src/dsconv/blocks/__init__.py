"""Blocks the models are built from: conv-norm-act, the Xception module, classifier heads, and
the translation models' sequence blocks (positions, shared embedding, attention, SliceNet's
convolution step and module, each able to decode one token at a time).

Every conv block works in 1-D, 2-D and 3-D (`ConvStyle.dims`), so image and sequence networks
share them.
"""

from .conv import ConvStyle, conv_norm_act
from .head import ClassifierHead, check_input
from .norm_act import ACTIVATIONS, NORMS, get_act, get_norm
from .sequence import (
    ConvModule,
    ConvStep,
    DotProductAttention,
    EncoderAttention,
    TokenEmbedding,
    reorder_state,
    timing_signal,
)
from .xception import XceptionBlock

__all__ = ["ConvStyle", "conv_norm_act", "ClassifierHead", "check_input", "ACTIVATIONS",
           "NORMS", "get_act", "get_norm", "XceptionBlock", "ConvModule", "ConvStep",
           "DotProductAttention", "EncoderAttention", "TokenEmbedding", "reorder_state",
           "timing_signal"]
