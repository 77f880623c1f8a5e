"""`Preprocess`: the record a model file carries of how raw inputs become network inputs.

Each modality (see `modalities/`) defines one dataclass subclass: images' crop, size and
scaling; series' per-channel statistics and length.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


class Preprocess:
    """A model file's preprocessing record: how raw inputs become the network's input.

    Each modality defines one dataclass subclass. `to_dict` is what the model file stores (JSON,
    with "kind" naming the modality) and `from_dict` reads it back, so a record round-trips.
    """

    kind: ClassVar[str]              # the modality's name, stored as "kind"
    # Every record also has (as fields or properties):
    #   input_size: tuple[int, ...]  the network's spatial input, (H, W) or (L,)
    #   in_chans: int                its input channels

    @property
    def shape(self) -> tuple[int, ...]:
        """One input's shape without the batch: (in_chans, *input_size)."""
        return (self.in_chans, *self.input_size)

    def model_args(self, classes: list[str]) -> dict[str, Any]:
        """What a model trained on this data is built with, besides its own config: a
        classifier's classes and input channels (a translator's vocabulary instead)."""
        return {"num_classes": len(classes), "in_chans": self.in_chans}

    def to_dict(self) -> dict[str, Any]:
        """The record as the model file's metadata holds it (JSON types)."""
        return json_ready({"kind": self.kind, **dataclasses.asdict(self)})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
        """The record from a model file's metadata (the inverse of `to_dict`)."""
        raise NotImplementedError


def json_ready(d: dict[str, Any]) -> dict[str, Any]:
    """Tuples as lists, as JSON gives them back (so a record written equals a record read)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
