"""ONNX export (dynamo exporter, opset 18), checked against eager in ONNX Runtime.

TensorFlow 'same' padding depends on the input size; the legacy TorchScript exporter fails on
it, the dynamo exporter handles it. The file carries the model's metadata (class names,
preprocessing) in `metadata_props`, so `dsconv predict` can use it alone.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..utils import atomic_path, writable_path
from .fuse import fuse_bn

_Conv = nn.modules.conv._ConvNd


def example_input(model: nn.Module, input_size: int | tuple[int, ...], batch: int = 1
                  ) -> torch.Tensor:
    """A random (batch, in_chans, *input_size) input for `model` (in_chans from its config,
    else from its first convolution; an int size is repeated over the model's dims)."""
    dims = getattr(getattr(model, "cfg", None), "dims", 2)
    size = (input_size,) * dims if isinstance(input_size, int) else tuple(input_size)
    in_chans = getattr(getattr(model, "cfg", None), "in_chans", None)
    if in_chans is None:
        first = next((m for m in model.modules() if isinstance(m, _Conv)), None)
        in_chans = first.in_channels if first is not None else 3
    return torch.randn(batch, in_chans, *size)


def export_onnx(model: nn.Module, path: str | Path, input_size: int | tuple[int, ...] = 224,
                dynamic_batch: bool = True, fuse: bool = True, check: bool = True,
                metadata: dict[str, str] | None = None, dynamic_size: bool = True) -> dict:
    """Export to ONNX (dynamo exporter, opset 18) and check it against eager in onnxruntime.

    TensorFlow 'same' padding depends on the input size; the legacy TorchScript exporter fails
    on it, the dynamo exporter handles it. dynamic_size: the spatial sizes stay symbolic (every
    registered model, 1-D lengths included) where ONNX Runtime then matches eager at other
    sizes; otherwise the file takes `input_size` only, and 'dynamic_size' says so. Returns
    {'path', 'max_abs_diff', 'dynamic_size'}.
    """
    path = writable_path(path)  # a bad location fails now, not after the export
    net = fuse_bn(model) if fuse else copy.deepcopy(model).eval()
    x = example_input(net, input_size, batch=2)
    dynamic = dynamic_size and _save_if_sound(net, x, path, dynamic_batch, metadata)
    if not dynamic:
        _save(_export(net, x, dynamic_batch, spatial=False), path, metadata)
    result = {"path": str(path), "max_abs_diff": None, "dynamic_size": dynamic}
    if check:
        run = onnx_session(path)
        inputs = [x, example_input(net, input_size, batch=3) if dynamic_batch else x]
        with torch.inference_mode():
            result["max_abs_diff"] = max((run(xi) - model.eval()(xi)).abs().max().item()
                                         for xi in inputs)
    return result


def _save(program, path: Path, metadata: dict[str, str] | None) -> None:
    with atomic_path(path) as tmp:
        program.save(str(tmp))
        if metadata:
            add_onnx_metadata(tmp, metadata)


def _save_if_sound(net: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool,
                   metadata: dict[str, str] | None) -> bool:
    """Export with symbolic spatial sizes; keep it only if ONNX Runtime matches eager at sizes
    of both parities, about half and twice the traced one. torch.export can specialise a
    size-dependent branch without a word (an Xception export traced at 33 px broke at 36, an
    adaptive pool traced at 64 averaged wrong windows from 128): a dynamic file is never
    trusted unchecked."""
    low = getattr(getattr(net, "cfg", None), "min_input_size", 1)
    try:
        _save(_export(net, x, dynamic_batch, spatial=True), path, metadata)
        run = onnx_session(path)
        with torch.inference_mode():
            for size in (lambda s: s + 1, lambda s: s + 2, lambda s: max(low, s // 2 + 1),
                         lambda s: 2 * s + 3):
                xi = torch.randn(1, x.shape[1], *[size(s) for s in x.shape[2:]])
                if not torch.allclose(run(xi), net(xi), rtol=1e-3, atol=1e-4):
                    return False
    except Exception:  # noqa: BLE001 - any failure means: export at the fixed size instead
        return False
    return True


def _export(net: nn.Module, x: torch.Tensor, dynamic_batch: bool, spatial: bool):
    dims = {0: torch.export.Dim("batch", min=1, max=4096)} if dynamic_batch else {}
    if spatial:
        low = getattr(getattr(net, "cfg", None), "min_input_size", 1)
        dims.update({i: torch.export.Dim(f"size{i}", min=max(low, 2), max=65536)
                     for i in range(2, x.dim())})
    # The exporter logs a line per torchvision op it skips (we use none) and torch's own
    # FutureWarnings from inside it; neither is about the user's model.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    # dynamic_shapes by position: forward's argument may have any name (nn.Conv2d's: input).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.onnx.export(net, (x,), dynamo=True, opset_version=18, verbose=False,
                                 input_names=["x"], output_names=["y"],
                                 dynamic_shapes=(dims,) if dims else None)


def onnx_session(path: str | Path, threads: int | None = None
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """An onnxruntime session wrapped as torch -> torch."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(sess.run(None, {name: x.detach().cpu().numpy()})[0])

    return run




def add_onnx_metadata(path: str | Path, metadata: dict[str, str]) -> None:
    """Set `metadata_props` of an ONNX file in place (keys and values are strings)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for k, v in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """The `metadata_props` of an ONNX file as a dict."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}
