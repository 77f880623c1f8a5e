"""Ensembles: N classifiers of one architecture, trained independently, probabilities averaged.

InceptionTime's and LITETime's published figures are for five networks trained from different
random initialisations whose softmax outputs are averaged. `Ensemble.forward` returns
log(mean_i softmax(member_i(x))): its softmax is exactly the members' mean probability, so
argmax, evaluate's cross-entropy (the ensemble's own log-loss), predict and export take it as
any classifier's logits.

    ens = ensemble_of("xceptiontime", 5, in_chans=6, num_classes=4)  # 5 fresh networks
    register_ensemble("litetime", "lite", 5, "LITETime: five LITE networks, averaged")
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .registry import ModelInfo, add_model, create_model, model_info


def refuse_non_classifier(name: str) -> None:
    """A one-line error when registered model `name` cannot be an ensemble member."""
    info = model_info(name)
    if info.tokens:
        raise ValueError(f"{name} is a translation model, not a classifier: an ensemble "
                         "averages the class probabilities of image and series classifiers")
    if info.ensemble:
        raise ValueError(f"{name} is already an ensemble ({info.ensemble[1]} x "
                         f"{info.ensemble[0]}): make an ensemble of {info.ensemble[0]}")


def config_difference(a: dict, b: dict) -> str:
    """'nf 4 vs 8, kernels [39, 19, 9] vs [9]': the fields where two configs differ."""
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    return ", ".join(f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in keys)


class Ensemble(nn.Module):
    """N member classifiers of one registered architecture and config; their mean probability.

    members: the networks (state-dict keys members.0..., members.1...); member: their
    registered model name, which a model file records. forward: (N, C, *S) -> (N, classes).
    """

    def __init__(self, members: Sequence[nn.Module], member: str) -> None:
        super().__init__()
        refuse_non_classifier(member)
        if not members:
            raise ValueError("an ensemble needs at least one member network")
        first = members[0]
        for i, m in enumerate(members):
            if type(m) is not type(first) or m.cfg != first.cfg:
                why = (f"{type(m).__name__} vs {type(first).__name__}" if type(m) is not
                       type(first) else config_difference(dataclasses.asdict(m.cfg),
                                                          dataclasses.asdict(first.cfg)))
                raise ValueError(f"ensemble member {i} differs from member 0 ({why}): the "
                                 "members share one architecture and config")
            if m.num_classes == 0:
                raise ValueError("an ensemble averages class probabilities: its members need "
                                 "a classifier (num_classes > 0, include_top, no features_only)")
        self.members = nn.ModuleList(members)
        self.member = member

    @property
    def cfg(self) -> Any:
        """The members' config (in_chans, dims, num_classes, min_input_size, ...)."""
        return self.members[0].cfg

    @property
    def dims(self) -> int:
        return self.members[0].dims

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    @property
    def n(self) -> int:
        """Members."""
        return len(self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, *S) -> (N, num_classes): log of the members' mean probabilities,
        as logsumexp_i log_softmax(member_i(x)) - log n (no exp of raw logits: stable)."""
        logp = torch.stack([torch.log_softmax(m(x), dim=-1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(self.n)


def ensemble_of(member: str, n: int, **overrides: Any) -> Ensemble:
    """An ensemble of `n` fresh networks of registered model `member`, each built with
    `overrides` (num_classes=..., in_chans=...) and its own random initialisation."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"an ensemble of {n!r} networks: the number must be >= 1")
    refuse_non_classifier(member)
    return Ensemble([create_model(member, **overrides) for _ in range(n)], member)


def register_ensemble(name: str, member: str, n: int, description: str) -> None:
    """Register `name` as n x `member` (e.g. litetime = 5 x lite): create_model(name, **kw)
    builds `ensemble_of(member, n, **kw)`, with the member's input size and scaling, and
    `dsconv train --model name` trains the n members one after another."""
    refuse_non_classifier(member)
    info = model_info(member)
    add_model(ModelInfo(name, functools.partial(ensemble_of, member, n), description,
                        info.input_size, info.normalize, ensemble=(member, n)))
