"""Cost analysis: per-layer profile of a model, the closed-form formulas, and comparisons."""

from . import formulas
from .compare import compare_conv, latency_ms
from .profile import LayerCost, Profile, bn_stat_count, conv_kind, profile

__all__ = ["formulas", "profile", "Profile", "LayerCost", "conv_kind", "bn_stat_count",
           "compare_conv", "latency_ms"]
