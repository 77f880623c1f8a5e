"""Build Keras reference models with seeded random weights and random BN statistics."""

import os
import sys
import types

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def randomize(model, seed: int = 0) -> None:
    """Seeded random weights; BN moving stats and gammas far from (0, 1) so eps/order bugs show."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights or not layer.trainable:  # fixed layers (LITE's filters) keep theirs
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            c = weights[0].shape[0]
            new = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c), rng.normal(0, 0.2, c),
                   rng.uniform(0.005, 0.05, c)]  # small variances: eps 1e-3 vs 1e-5 shows
        else:
            new = []
            for w in weights:
                fan_in = np.prod(w.shape[:-1]) if w.ndim > 1 else 1
                new.append(rng.normal(0, 1 / np.sqrt(max(fan_in, 1)), w.shape))
        layer.set_weights([n.astype(np.float32) for n in new])


def keras_forward(model, x_nchw: torch.Tensor) -> np.ndarray:
    """Run a channels-last Keras model on an NCHW (or NCL, ...) batch."""
    x = x_nchw.movedim(1, -1).numpy()
    out = model(x, training=False)
    return np.asarray(keras.ops.convert_to_numpy(out))


def copy_weights(src, dst) -> None:
    """Copy weights between two Keras models of the same builder (layers in the same order)."""
    for a, b in zip(dst.layers, src.layers):
        if a.weights:
            a.set_weights(b.get_weights())


def aeon_lite(length: int, channels: int, n_classes: int):
    """aeon's LITENetwork (the authors' LITE, aeon 1.x) + its classifier's Dense, in Keras 3.

    aeon's code calls `tf.keras.layers...`; TensorFlow is not installed, so while it builds,
    `tensorflow` names a stand-in module whose only attribute is Keras 3 itself (torch
    backend). The stand-in is removed afterwards.
    """
    from aeon.networks import LITENetwork

    saved = sys.modules.get("tensorflow")
    sys.modules["tensorflow"] = types.SimpleNamespace(keras=keras)
    try:
        inputs, gap = LITENetwork().build_network((length, channels))
        out = keras.layers.Dense(n_classes)(gap)  # aeon's softmax left out: logits
        return keras.Model(inputs, out)
    finally:
        if saved is None:
            del sys.modules["tensorflow"]
        else:
            sys.modules["tensorflow"] = saved
