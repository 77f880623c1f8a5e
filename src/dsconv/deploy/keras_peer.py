"""Keras's own Xception / MobileNet v1, timed beside dsconv's in the same process."""

from __future__ import annotations

from torch import nn

from ..cost import bn_stat_count
from ..utils import median_time


def keras_counterpart(model: nn.Module, input_size: int | tuple[int, int]):
    """Keras's own application model for a dsconv Xception / MobileNet v1 (random weights),
    built for inputs of `input_size` (H, W; an int is square): (keras model, row label).

    Keras runs on TensorFlow when it is installed, else on PyTorch (KERAS_BACKEND=torch is
    set here if nothing chose a backend); the backend is part of the row's name.
    """
    import importlib.util
    import os

    if "KERAS_BACKEND" not in os.environ and importlib.util.find_spec("tensorflow") is None:
        os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError as err:
        raise ImportError("--against keras needs keras: pip install keras") from err
    cfg, name = getattr(model, "cfg", None), type(model).__name__
    # Keras wants (H, W, C) of ints; the CLI's sizes are (H, W) tuples, the API's often ints.
    size = (input_size,) * 2 if isinstance(input_size, int) else tuple(input_size)
    shape = (*size, getattr(cfg, "in_chans", 3))
    classes = getattr(cfg, "num_classes", 1000)
    standard = getattr(cfg, "conv_mode", "separable") != "separable"
    if name == "Xception" and not standard and cfg.middle_repeats == 8:
        build, extra = keras.applications.Xception, {}
    elif name == "MobileNetV1" and not standard:
        build, extra = keras.applications.MobileNet, {"alpha": cfg.alpha}
    else:
        raise ValueError(f"--against keras: Keras has no counterpart of this {name} "
                         "(Keras ships Xception and MobileNet v1 only)")
    try:
        net = build(weights=None, input_shape=shape, classes=classes, **extra)
    except ValueError as err:  # e.g. below its minimum: 71 px Xception, 32 px MobileNet
        raise ValueError(f"--against keras: Keras's {name} refuses input "
                         f"{'x'.join(map(str, size))}: {err}") from err
    # Same network or no comparison: Keras counts BN statistics among its parameters.
    ours = sum(p.numel() for p in model.parameters()) + bn_stat_count(model)
    if net.count_params() != ours:
        raise ValueError(f"--against keras: Keras's model has {net.count_params():,} parameters, "
                         f"this one {ours:,}; only the Keras-default configurations compare")
    return net, f"keras ({keras.backend.backend()} backend)"


def bench_keras(net, label: str, batches: list[int], train: bool = False, reps: int = 5
                ) -> list[tuple[str, int, float]]:
    """(path, batch, seconds) of a Keras model: inference, and train_on_batch steps."""
    import numpy as np

    rows = []
    for bs in batches:
        x = np.random.default_rng(0).standard_normal((bs, *net.input_shape[1:]), np.float32)
        rows.append((label, bs, median_time(lambda x=x: net.predict_on_batch(x), reps)))
    if train:
        net.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        for bs in batches:
            x = np.random.default_rng(0).standard_normal((bs, *net.input_shape[1:]), np.float32)
            y = np.zeros(bs, np.int64)
            t = median_time(lambda x=x, y=y: net.train_on_batch(x, y), max(2, reps // 2), 1)
            rows.append((f"train {label}", bs, t))
    return rows


