"""An ensemble's one model file from trained model files, and one member back out of it.

    ens, meta = combine_model_files(["seed0.safetensors", "seed1.safetensors"], "ens.safetensors")
    split_model_file("ens.safetensors", ["m0.safetensors", "m1.safetensors"])  # and back

The members must be one architecture with one config, predict the same classes and preprocess
their inputs the same way (`dsconv ensemble` refuses otherwise, naming the difference); a file
that is itself an ensemble gives its members.
"""

from __future__ import annotations

from pathlib import Path

from ..data.splits import recorded_split
from ..models import Ensemble, model_info
from ..models.ensemble import config_difference
from .loading import load_model, save_model
from .modelfile import ModelMeta, read_meta


def combine_model_files(paths: list[str | Path], out: str | Path, provenance: dict | None = None
                        ) -> tuple[Ensemble, ModelMeta]:
    """Write one ensemble model file of the networks in `paths`; returns (ensemble, its meta).

    provenance: added to what the members share (their data and held-out split, when all
    agree: evaluate then measures the ensemble where none of them trained)."""
    if len(paths) < 2:
        raise ValueError(f"an ensemble needs at least 2 model files, got {len(paths)}")
    loaded = [load_model(p) for p in paths]
    for p, (_, meta) in zip(paths, loaded):
        if model_info(meta.model).tokens:
            raise ValueError(f"{p} holds {meta.model}, a translation model: not a classifier, "
                             "so no ensemble (it averages class probabilities)")
        why = mismatch(loaded[0][1], meta)
        if why:
            raise ValueError(f"{paths[0]} and {p} {why}: an ensemble's members share one "
                             "architecture and config, classes and preprocessing")
    members = [m for net, _ in loaded for m in (net.members if isinstance(net, Ensemble)
                                                 else [net])]
    first = loaded[0][1]
    ensemble = Ensemble(members, first.model).eval()
    record = {**shared_provenance([meta.provenance for _, meta in loaded]),
              "members": [str(p) for p in paths], **(provenance or {})}
    save_model(ensemble, out, first.model, first.classes, first.preprocess, record)
    return ensemble, read_meta(out)


def mismatch(a: ModelMeta, b: ModelMeta) -> str | None:
    """Why two model files cannot be members of one ensemble, or None."""
    if a.model != b.model:
        return f"hold different models ({a.title} vs {b.title})"
    if a.config != b.config:
        return f"hold {a.model} with different configs ({config_difference(a.config, b.config)})"
    if a.classes != b.classes:
        return f"predict different classes ({a.classes} vs {b.classes})"
    pa, pb = a.preprocess.to_dict(), b.preprocess.to_dict()
    if pa != pb:
        return f"preprocess differently ({config_difference(pa, pb)})"
    return None


def shared_provenance(records: list[dict]) -> dict:
    """The data and held-out split all the members' files record (what evaluate rebuilds):
    {data, val_split, split_seed} where they agree; a part where they differ is left out."""
    out = {}
    if len({str(r.get("data")) for r in records}) == 1:
        out["data"] = records[0].get("data")
    splits = {recorded_split(r) for r in records}
    if len(splits) == 1 and None not in splits and "data" in out:
        out["val_split"], out["split_seed"] = splits.pop()
    return out


def split_model_file(path: str | Path, outs: list[str | Path]) -> list[Path]:
    """Each member of the ensemble file `path` as a model file of its own, member i at
    outs[i] (its classes, preprocessing and provenance, and which member it was)."""
    net, meta = load_model(path)
    if not isinstance(net, Ensemble) or net.n != len(outs):
        raise ValueError(f"{path} holds {meta.title}, not an ensemble of {len(outs)}")
    for i, (member, out) in enumerate(zip(net.members, outs)):
        save_model(member, out, meta.model, meta.classes, meta.preprocess,
                   {**meta.provenance, "member_of": str(path), "member": i})
    return [Path(p) for p in outs]
