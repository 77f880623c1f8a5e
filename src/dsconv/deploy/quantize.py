"""int8 post-training static quantization, run by ONNX Runtime, and its top-1 agreement.

Why ONNX Runtime: on the x86 CPUs we measured (AVX2, no VNNI) its QLinearConv runs Xception's
1x1 convs 1.8x faster than its fp32 Conv, which already runs them at the matmul roof; PyTorch
2.13's FX quantizer cannot trace TensorFlow 'same' padding (size-dependent control flow) and its
pt2e flow has moved out of torch (torchao). The recipe that measured best here: QDQ format,
uint8 activations, int8 weights per output channel (symmetric), min-max calibration.

Accuracy is never assumed: `top1_agreement` compares the int8 model's top-1 with the fp32
model's on held-out data, and `dsconv quantize` reports it next to the latency ratio.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from ..models.seq2seq import Seq2Seq
from ..utils import atomic_path, writable_path
from .onnx import add_onnx_metadata, export_onnx, onnx_metadata

Run = Callable[[torch.Tensor], torch.Tensor]
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")  # ONNX Runtime's calibrators


def quantize_int8(model: nn.Module, path: str | Path, calibration: Iterable[torch.Tensor],
                  method: str = "minmax", per_channel: bool = True,
                  reduce_range: bool | None = None, metadata: dict[str, str] | None = None
                  ) -> Path:
    """Write an int8 ONNX model of `model` (BN folded) calibrated on `calibration`.

    calibration: batches (N, C, H, W) preprocessed exactly as at inference (their H, W is
    the input size the model is exported at; the batch stays dynamic); a few hundred images
    from the training set is the usual amount. metadata: the file's `metadata_props` (as in
    `export_onnx`). Other arguments: see `quantize_onnx`. Returns `path`.
    """
    _check_method(method)  # before the export, not after
    path = writable_path(path)
    first, batches = _peek(calibration)
    with tempfile.TemporaryDirectory(prefix="dsconv-int8-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_onnx(model, fp32, tuple(first.shape[2:]), check=False, dynamic_size=False,
                    metadata=metadata)
        return quantize_onnx(fp32, path, batches, method, per_channel, reduce_range)


def quantize_onnx(fp32_path: str | Path, path: str | Path, calibration: Iterable[torch.Tensor],
                  method: str = "minmax", per_channel: bool = True,
                  reduce_range: bool | None = None) -> Path:
    """Write an int8 version of the fp32 ONNX file `fp32_path` (one input) to `path`.

    calibration: batches (N, C, H, W) preprocessed exactly as at inference. method:
    'minmax', 'entropy' or 'percentile' (ONNX Runtime's calibrators). reduce_range: 7-bit
    weights; None = on unless the CPU has VNNI. Without VNNI the u8 x s8 kernels sum pairs of
    products in int16 and saturate: on the digits model that cost 6% top-1 agreement (94%),
    with 7-bit weights 100%, at the same speed. Returns `path`.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    _check_method(method)
    path = writable_path(path)
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    _, batches = _peek(calibration)
    name = onnx.load(str(fp32_path), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict | None:
            x = next(batches, None)
            return None if x is None else {name: x.detach().float().cpu().numpy()}

    with tempfile.TemporaryDirectory(prefix="dsconv-int8-") as tmp, atomic_path(path) as out:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=per_channel, calibrate_method=methods[method],
                        reduce_range=not cpu_has_vnni() if reduce_range is None else reduce_range,
                        # A BatchNorm no conv absorbed (after a concatenation: LITE,
                        # InceptionTime) has a 1-D scale: its channels are axis 0, not 1.
                        extra_options={"QDQOpTypePerChannelSupportToAxis":
                                       {"BatchNormalization": 0}})
        # ONNX Runtime writes its own metadata_props in place of the input's: put ours back.
        add_onnx_metadata(out, {**onnx_metadata(out), **onnx_metadata(fp32_path)})
    return path


def _check_method(method: str) -> None:
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method={method!r}: expected one of {CALIBRATION_METHODS}")


def _peek(calibration: Iterable[torch.Tensor]) -> tuple[torch.Tensor, Iterator[torch.Tensor]]:
    """(first batch, an iterator over all batches); a clear error when there are none."""
    batches = iter(calibration)
    first = next(batches, None)
    if first is None:
        raise ValueError("calibration gave no batches: pass a few hundred preprocessed images")
    return first, itertools.chain([first], batches)


def cpu_has_vnni() -> bool:
    """True when the CPU has int8 dot-product instructions (AVX-VNNI / AVX512-VNNI / AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False  # unknown: 7-bit weights are safe everywhere
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


@torch.inference_mode()
def top1_agreement(reference: Run, candidate: Run,
                   batches: Iterable[torch.Tensor | tuple]) -> dict:
    """How often `candidate`'s top-1 class equals `reference`'s, on `batches`.

    batches: tensors (N, C, H, W) or (x, labels, ...) tuples; with labels, each model's own
    top-1 accuracy is reported too. Returns {agreement, n, disagreements, ref_top1,
    cand_top1, max_abs_diff} (the accuracies are None without labels).
    """
    n = same = ref_ok = cand_ok = 0
    labelled = True
    max_diff = 0.0
    for item in batches:
        x, y = (item[0], item[1]) if isinstance(item, tuple | list) else (item, None)
        if x is None:
            continue
        a, b = reference(x).float(), candidate(x).float()
        pa, pb = a.argmax(1), b.argmax(1)
        n += len(x)
        same += (pa == pb).sum().item()
        max_diff = max(max_diff, (a - b).abs().max().item())
        if y is None:
            labelled = False
        else:
            ref_ok += (pa == y).sum().item()
            cand_ok += (pb == y).sum().item()
    if n == 0:
        raise ValueError("no inputs to compare on: the batches were empty")
    return {"agreement": same / n, "n": n, "disagreements": n - same,
            "ref_top1": ref_ok / n if labelled else None,
            "cand_top1": cand_ok / n if labelled else None, "max_abs_diff": max_diff}


def refuse_translator(model: torch.nn.Module, name: str, command: str) -> None:
    """A one-line error when `model` is a translation model: the ONNX paths (export,
    quantize, bench's backends) take image and series classifiers."""
    if isinstance(model, Seq2Seq):
        raise ValueError(f"{name} is a translation model: `dsconv {command}` takes image and "
                         "series classifiers; translate with `dsconv predict`, and time "
                         "decoding with benchmarks/translation.py")


def quantize_model_file(weights: str | Path, output: str | Path, data: str | Path | None = None,
                        calib_images: int = 256, method: str = "minmax") -> dict:
    """int8 ONNX of a model file, calibrated on its training data, compared with fp32 on the
    held-out data.

    data: what the model was trained on, an ImageFolder root or a series spec (None: the
    bundled digits, or the series the file records). The int8 file carries the model file's
    metadata, so `dsconv predict` takes it alone. Returns {agreement, n, disagreements,
    ref_top1, cand_top1, int8_ms, fp32_ms, latency_ratio, path, unit ('images' or 'series'),
    split (what was compared), held_out (False when that is the calibration data itself)}.
    """
    from torch.utils.data import DataLoader, Subset

    from ..data import collate, labelled_split, modality_named
    from ..utils import median_time
    from ..weights import load_model
    from .onnx import onnx_session

    _check_method(method)
    output = writable_path(output)  # a bad location fails before the work
    model, meta = load_model(weights)
    refuse_translator(model, meta.model, "quantize")
    # The provenance carries the run's held-out split: calibrate on the rest, compare on it.
    train, held_out = (labelled_split(meta.preprocess, meta.classes, data, meta.provenance, s)
                       for s in ("train", "eval"))
    unit = modality_named(meta.preprocess.kind).unit
    # A seeded random subset, so that every class is likely present in calibration.
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    calib = Subset(train, pick[:calib_images].tolist())
    calib_batches = (x for x, _, _ in DataLoader(calib, batch_size=32, collate_fn=collate)
                     if x is not None)
    loader = DataLoader(held_out, batch_size=64, collate_fn=collate)
    x = next(x for x, _, _ in loader if x is not None)[:1]
    record = dataclasses.replace(meta, provenance={
        **meta.provenance, "int8": f"{method} calibration on {len(calib)} training {unit}"})
    with tempfile.TemporaryDirectory(prefix="dsconv-quantize-") as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"  # one export serves quantization and the timing
        export_onnx(model, fp32_path, tuple(x.shape[2:]), check=False, dynamic_size=False,
                    metadata={"dsconv": record.to_json()})
        fp32 = onnx_session(fp32_path)
        path = quantize_onnx(fp32_path, output, calib_batches, method=method)
    int8 = onnx_session(path)
    res = top1_agreement(model, int8, loader)
    res["int8_ms"], res["fp32_ms"] = (1e3 * median_time(lambda f=f: f(x), 20) for f in (int8, fp32))
    res["latency_ratio"] = res["int8_ms"] / res["fp32_ms"]
    split = getattr(held_out, "split_name", None) or str(data or meta.provenance.get("data"))
    res.update(path=str(path), unit=unit, split=split,
               held_out=not _same_items(train, held_out))
    return res


def _same_items(a, b) -> bool:
    """True when two labelled datasets hold the same items: then the 'eval' split is the
    training data (no val/ or test/ split), and the comparison is not on held-out data."""
    if hasattr(a, "samples") and hasattr(b, "samples"):  # image folders: the same files
        return a.samples == b.samples
    xa, xb = getattr(a, "x", None), getattr(b, "x", None)
    return (isinstance(xa, torch.Tensor) and isinstance(xb, torch.Tensor)
            and xa.shape == xb.shape and torch.equal(xa, xb))
