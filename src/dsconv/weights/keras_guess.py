"""What a Keras file holds, from its layer names: the dsconv model that reads it, in words.

Keras applications name their layers, so a file says which architecture it is. These words end
up in library errors (`load_keras_weights`, `weights.loading.keras_meta`), which the CLI prints
as they are, so they live here rather than in `cli`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .keras_read import keras_model_name

# What `guess_keras_model` recognises, for the error about any other Keras file.
KERAS_READABLE = ("Keras's Xception (layers block1_conv1, block2_sepconv1, ...) and MobileNet v1 "
                  "(layers conv1, conv_dw_1, conv_pw_1, ...)")


def guess_keras_model(layers: list[tuple[str, list[np.ndarray]]]) -> tuple[str, dict] | None:
    """(registered model name, config overrides) that a Keras file's layers describe, or None.

    Keras applications name their layers, so the file says what it holds: `block1_conv1` is
    Xception, `conv_dw_1` MobileNet v1 (alpha = conv1's width / 32); the classifier's shape
    gives the class count, its absence include_top=False.
    """
    shapes = {n: [a.shape for a in arrays] for n, arrays in layers}
    if "block1_conv1" in shapes:
        name, classifier, stem = "xception", "predictions", shapes["block1_conv1"][0]
        kw: dict = {"in_chans": int(stem[2])}
    elif "conv_dw_1" in shapes and "conv1" in shapes:
        name, classifier, stem = "mobilenet_v1", "conv_preds", shapes["conv1"][0]
        kw = {"in_chans": int(stem[2]), "alpha": round(int(stem[3]) / 32, 4)}
    else:
        return None
    if classifier in shapes:
        kw["num_classes"] = int(shapes[classifier][0][-1])
    else:
        kw.update(include_top=False, global_pool=None)
    return name, kw


def describe_keras_model(guess: tuple[str, dict]) -> str:
    """'mobilenet_v1 --alpha 0.25 --num-classes 1000': the flags that build what a file holds."""
    name, kw = guess
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in kw.items()
             if k in ("alpha", "num_classes", "in_chans") and not (k == "in_chans" and v == 3)]
    if not kw.get("include_top", True):
        flags.append("--model-arg include_top=false")
    return " ".join([name, *flags])


def describe_keras_file(path: str | Path, layers: list[tuple[str, list[np.ndarray]]]) -> str:
    """What a Keras file holds, in a few words: its model's class and name where the file
    records them (whole-model .h5 and .keras files), and its first layers with weights."""
    first = ", ".join(n for n, _ in layers[:3])
    held = f"{len(layers)} layers with weights ({first}, ...)" if layers else "no weights"
    return f"{keras_model_name(Path(path)) or 'a Keras weights file'}, {held}"
