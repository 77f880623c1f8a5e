"""Keras layer name <-> dsconv module path, in Keras's own layer order.

The tables are fixed: each Keras applications layer has one dsconv module. Xception's four
shortcut convolutions and their BNs have no name in Keras's builder (they get automatic names,
`conv2d`, `batch_normalization_3`, ..., which depend on what else was built in the session), so
they are entries with `keras_name=None`: on loading they are matched by order and shape, on
export they are written with the automatic names a fresh Keras session gives them.

Keras's `model.layers` order (which its legacy .h5 loader relies on) puts each residual block's
main path first and its shortcut after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..models import MobileNetV1, Xception


@dataclass(frozen=True)
class KerasEntry:
    keras_name: str | None   # None: an unnamed Keras layer, matched by order and shape
    path: str                # dsconv module path
    auto_prefix: str = ""    # for unnamed layers: 'conv2d' or 'batch_normalization'


def _xception_table(model: Xception) -> list[KerasEntry]:
    t = [KerasEntry(f"block1_{n}", f"blocks.block1.{m}") for n, m in
         (("conv1", "conv1"), ("conv1_bn", "bn1"), ("conv2", "conv2"), ("conv2_bn", "bn2"))]
    blocks = list(model.blocks.named_children())[1:]
    for name, block in blocks:
        body = getattr(block, "body", block)
        prefix = f"blocks.{name}.body" if hasattr(block, "body") else f"blocks.{name}"
        n_sep = sum(1 for child in body._modules if child.startswith("sepconv"))
        for i in range(1, n_sep + 1):
            t.append(KerasEntry(f"{name}_sepconv{i}", f"{prefix}.sepconv{i}"))
            t.append(KerasEntry(f"{name}_sepconv{i}_bn", f"{prefix}.bn{i}"))
        if getattr(block, "shortcut", None) is not None:
            t.append(KerasEntry(None, f"blocks.{name}.shortcut.conv", "conv2d"))
            t.append(KerasEntry(None, f"blocks.{name}.shortcut.bn", "batch_normalization"))
    return t + _head_table(model, "predictions")


def _mobilenet_table(model: MobileNetV1) -> list[KerasEntry]:
    t = [KerasEntry("conv1", "blocks.conv1.conv"), KerasEntry("conv1_bn", "blocks.conv1.bn")]
    for i in range(1, 14):
        t += [KerasEntry(f"conv_dw_{i}", f"blocks.block{i}.sepconv.depthwise"),
              KerasEntry(f"conv_dw_{i}_bn", f"blocks.block{i}.sepconv.mid_norm"),
              KerasEntry(f"conv_pw_{i}", f"blocks.block{i}.sepconv.pointwise"),
              KerasEntry(f"conv_pw_{i}_bn", f"blocks.block{i}.bn")]
    return t + _head_table(model, "conv_preds")


def _head_table(model: nn.Module, classifier: str) -> list[KerasEntry]:
    head = model.head
    if not head.include_top:
        return []
    fcs = [i for i, m in enumerate(head.fc_layers) if isinstance(m, nn.Linear)]
    return [KerasEntry(f"fc{j + 1}", f"head.fc_layers.{i}") for j, i in enumerate(fcs)] + [
        KerasEntry(classifier, "head.fc")]


# Keras classifiers that are 1x1 convolutions (kernel (1, 1, in, out)) rather than Dense.
CONV_CLASSIFIERS = {"conv_preds"}


def keras_table(model: nn.Module) -> list[KerasEntry]:
    """The (Keras name, dsconv path) table of `model`, in Keras's layer order.

    Entries whose module does not exist in this configuration (the standard twin has no
    intermediate BN, say) are left out.
    """
    if isinstance(model, Xception):
        table = _xception_table(model)
    elif isinstance(model, MobileNetV1):
        table = _mobilenet_table(model)
    else:
        raise ValueError(
            f"no Keras layer table for {type(model).__name__}: Keras weights map onto "
            "Xception and MobileNetV1 models"
        )
    modules = dict(model.named_modules())
    return [e for e in table if e.path in modules and _has_params(modules[e.path])]


def _has_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters())
