"""Cost analysis: per-layer profile of a model, and the closed-form formulas to check it."""

from . import formulas
from .profile import LayerCost, Profile, bn_stat_count, conv_kind, profile

__all__ = ["formulas", "profile", "Profile", "LayerCost", "conv_kind", "bn_stat_count"]
