"""Which part of a labelled data set a trained model is measured on, and what it is called.

A training run without a separate validation/test part holds out `val_split` of its data
(stratified, seeded) and records val_split and seed in the model file's provenance. Evaluating
the model on that same data rebuilds exactly the held-out part, so that the images or series it
learned from are not scored as if unseen. `trained` below is the model file's provenance when
the data being evaluated is the data the model was trained on, else None.
"""

from __future__ import annotations


def recorded_split(trained: dict | None) -> tuple[float, int] | None:
    """(val_split, seed) that the model's run held out of this data, or None (not this data,
    nothing held out, or a model file from before dsconv recorded its split). The seed is
    the split's own (split_seed: an ensemble's members share one), else the run's."""
    if not trained or not trained.get("val_split"):
        return None
    return float(trained["val_split"]), int(trained.get("split_seed", trained.get("seed", 0)))


def held_out_name(source: object, frac: float, what: str, part: str = "eval") -> str:
    """'DIR (held-out 10% of the training folder)', or the rest of it for part 'train'."""
    if part == "train":
        return f"{source} (the {100 - round(100 * frac)}% of the training {what} it trained on)"
    return f"{source} (held-out {frac:.0%} of the training {what})"


def whole_name(source: object, unit: str, trained: dict | None) -> str:
    """The name of all of `source`, saying whether the model may have trained on it."""
    if trained is None:
        return f"{source} (all {unit})"
    if "val_split" not in trained:
        return (f"{source} (all {unit}; they may include the model's training {unit}: its "
                "model file records no held-out split)")
    return f"{source} (all {unit}; the model was trained on all of them)"
