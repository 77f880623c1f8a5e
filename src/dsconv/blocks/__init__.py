"""Blocks the models are built from: conv-norm-act, the Xception module, classifier heads.

Every block works in 1-D, 2-D and 3-D (`ConvStyle.dims`), so image and sequence networks share
them.
"""

from .conv import ConvStyle, conv_norm_act
from .head import ClassifierHead, check_input
from .norm_act import ACTIVATIONS, NORMS, get_act, get_norm
from .xception import XceptionBlock

__all__ = ["ConvStyle", "conv_norm_act", "ClassifierHead", "check_input", "ACTIVATIONS",
           "NORMS", "get_act", "get_norm", "XceptionBlock"]
