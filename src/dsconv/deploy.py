"""Inference deployment: BN folding, an optimised callable per backend, ONNX export.

`fuse_bn` folds every BatchNorm into the convolution that feeds it: a BN after a separable
conv goes into its last step (the pointwise conv, or the depthwise one for pointwise-first),
an intermediate BN (MobileNet's) into the first step. Per output channel c of a convolution
with weight W and bias b: W'[c] = W[c] * s[c], b'[c] = (b[c] - mean[c]) * s[c] + beta[c],
s = gamma / sqrt(var + eps). That holds for grouped and depthwise convs (depth multiplier
included) because BN acts per output channel; a missing bias is created, not assumed zero
(ncnn#1339's bug was dropping an existing depthwise bias).
"""

from __future__ import annotations

import copy
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from .layers.separable import _SeparableConv

BACKENDS = ("eager", "compile", "onnxruntime", "int8")
_Conv = nn.modules.conv._ConvNd
_BN = nn.modules.batchnorm._BatchNorm


@torch.no_grad()
def fold_bn_into_conv(conv: _Conv, bn: _BN) -> None:
    """Fold `bn` (applied to conv's output) into `conv`, in place."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.mul_(scale.view(-1, *([1] * (conv.weight.dim() - 1))))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * scale + bn.bias
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias)
    else:
        conv.bias.copy_(new_bias)


def _last_conv(m: nn.Module) -> _Conv | None:
    if isinstance(m, _SeparableConv):
        return m.pointwise if m.order == "depthwise_first" else m.depthwise
    return m if isinstance(m, _Conv) else None


def fuse_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of `model` (in eval mode) with every conv -> BN pair folded into the conv.

    Same outputs as model.eval() up to float rounding (checked in the tests to 1e-4).
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    for m in list(model.modules()):
        if isinstance(m, _SeparableConv) and isinstance(m.mid_norm, _BN):
            first = m.depthwise if m.order == "depthwise_first" else m.pointwise
            fold_bn_into_conv(first, m.mid_norm)
            m.mid_norm = nn.Identity()
        if isinstance(m, nn.Sequential):
            names = list(m._modules)
            for a, b in zip(names, names[1:]):
                conv = _last_conv(m._modules[a])
                if conv is not None and isinstance(m._modules[b], _BN):
                    fold_bn_into_conv(conv, m._modules[b])
                    m._modules[b] = nn.Identity()
    return model


def example_input(model: nn.Module, input_size: int | tuple[int, int], batch: int = 1
                  ) -> torch.Tensor:
    """A random (batch, in_chans, H, W) input for `model` (in_chans from its config, else from
    its first convolution)."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    in_chans = getattr(getattr(model, "cfg", None), "in_chans", None)
    if in_chans is None:
        first = next((m for m in model.modules() if isinstance(m, _Conv)), None)
        in_chans = first.in_channels if first is not None else 3
    return torch.randn(batch, in_chans, h, w)


def export_onnx(model: nn.Module, path: str | Path, input_size: int | tuple[int, int] = 224,
                dynamic_batch: bool = True, fuse: bool = True, check: bool = True) -> dict:
    """Export to ONNX (dynamo exporter, opset 18) and check it against eager in onnxruntime.

    TensorFlow 'same' padding depends on the input size; the legacy TorchScript exporter fails
    on it, the dynamo exporter handles it. Returns {'path', 'max_abs_diff'}.
    """
    path = Path(path)
    net = fuse_bn(model) if fuse else copy.deepcopy(model).eval()
    x = example_input(net, input_size, batch=2)
    dyn = {"x": {0: torch.export.Dim("batch", min=1, max=4096)}} if dynamic_batch else None
    # The exporter logs a line per torchvision op it skips (we use none) and torch's own
    # FutureWarnings from inside it; neither is about the user's model.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        program = torch.onnx.export(net, (x,), dynamo=True, opset_version=18, verbose=False,
                                    input_names=["x"], output_names=["y"], dynamic_shapes=dyn)
    program.save(str(path))
    result = {"path": str(path), "max_abs_diff": None}
    if check:
        run = onnx_session(path)
        with torch.inference_mode():
            ref = model.eval()(x)
        xs = example_input(net, input_size, batch=3) if dynamic_batch else x
        with torch.inference_mode():
            ref3 = model(xs)
        diff = max((run(x) - ref).abs().max().item(), (run(xs) - ref3).abs().max().item())
        result["max_abs_diff"] = diff
    return result


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


def optimize(model: nn.Module, backend: str = "eager", input_size: int | tuple[int, int] = 224,
             calibration: Iterable[torch.Tensor] | None = None
             ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ready inference callable (N, C, H, W) -> outputs with the fastest correct settings.

    eager: BN folded, channels_last, inference mode. compile: the same under torch.compile
    (with freezing). onnxruntime: exported (BN folded) and run by ONNX Runtime on CPU.
    int8: `dsconv.quantize.quantize_int8` calibrated on `calibration` (batches of
    preprocessed inputs), run by ONNX Runtime.
    """
    if backend in ("onnxruntime", "int8"):
        # ONNX Runtime reads the file into the session: the temporary copy can go at once.
        with tempfile.TemporaryDirectory(prefix="dsconv-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            if backend == "int8":
                from .quantize import quantize_int8

                if calibration is None:
                    raise ValueError("backend='int8' needs calibration batches "
                                     "(preprocessed inputs)")
                quantize_int8(model, path, calibration)
            else:
                export_onnx(model, path, input_size, check=False)
            return onnx_session(path)
    net = fuse_bn(model).to(memory_format=torch.channels_last)
    if backend == "compile":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        net = torch.compile(net)
    elif backend != "eager":
        raise ValueError(f"backend={backend!r}: expected one of {BACKENDS}")

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net(x.contiguous(memory_format=torch.channels_last))

    return run
