"""dsconv on a CUDA GPU: `pytest -m cuda` on a machine with one. Without a GPU every test here
is skipped with its reason printed (`-rs` in the default options), so CPU CI stays green.

Each test compares the GPU against the CPU in fp32 (TF32 off), or bounds bf16."""

from __future__ import annotations

import pytest
import torch

import dsconv
from dsconv.layers import DepthwiseConv1d, DepthwiseConv2d
from dsconv.models import list_models, model_info

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]


@pytest.fixture(autouse=True)
def exact_fp32():
    """TF32 would make fp32 convs and matmuls differ from the CPU by ~1e-3."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    precision = getattr(torch.backends, "fp32_precision", None)  # torch >= 2.9's switch
    if precision is not None:
        torch.backends.fp32_precision = "ieee"
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
    if precision is not None:
        torch.backends.fp32_precision = precision


def _input(name: str, batch: int = 2) -> torch.Tensor:
    info = model_info(name)
    size = (64,) if info.dims == 1 else (72, 72)
    chans = 3
    return torch.randn(batch, chans, *size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", [n for n in list_models(ensembles=False)
                                  if not model_info(n).tokens])
def test_every_model_matches_the_cpu_forward_and_backward(name):
    torch.manual_seed(0)
    kw = {"num_classes": 5} if model_info(name).dims == 2 else {"num_classes": 5, "in_chans": 3}
    # Eval mode: BN with batch statistics of 2 images on a 3x3 map amplifies the different
    # summation orders of cuDNN and the CPU beyond any fixed bound; the convs are what is tested.
    cpu = dsconv.create_model(name, **kw).eval()
    gpu = dsconv.create_model(name, **kw).eval()
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    x = _input(name)
    y_cpu, y_gpu = cpu(x), gpu(x.cuda())
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-3, atol=1e-3)
    y_cpu.square().sum().backward()
    y_gpu.square().sum().backward()
    for (n, p), q in zip(cpu.named_parameters(), gpu.parameters()):
        scale = p.grad.abs().max().item() + 1e-6
        # cuDNN and the CPU sum in different orders; the regular 3x3 convs of the standard
        # twins (up to 2048 channels deep) go through cuDNN algorithms that round more
        bound = 5e-2 if name.endswith("_standard") else 1e-2
        assert (q.grad.cpu() - p.grad).abs().max().item() <= bound * scale, n


@pytest.mark.parametrize("k,dims", [(39, 1), (9, 1), (3, 2)])
def test_depthwise_layers_match_the_cpu(k, dims):
    layer = (DepthwiseConv1d(32, k, 1, "same") if dims == 1 else
             DepthwiseConv2d(32, k, 2, "same"))
    x = torch.randn(4, 32, *((300,) if dims == 1 else (37, 37)), requires_grad=True)
    xg = x.detach().cuda().requires_grad_(True)
    gpu = (DepthwiseConv1d(32, k, 1, "same") if dims == 1 else
           DepthwiseConv2d(32, k, 2, "same")).cuda()
    gpu.load_state_dict(layer.state_dict())
    y, yg = layer(x), gpu(xg)
    torch.testing.assert_close(yg.cpu(), y, rtol=1e-5, atol=1e-5)
    gy = torch.randn_like(y)
    y.backward(gy)
    yg.backward(gy.cuda())
    torch.testing.assert_close(xg.grad.cpu(), x.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gpu.weight.grad.cpu(), layer.weight.grad, rtol=1e-4, atol=1e-4)


def test_training_on_cuda_uses_bf16_and_writes_a_model_file(tmp_path):
    from dsconv.train import TrainConfig, evaluate, train

    s = train(TrainConfig(out=str(tmp_path / "run"), epochs=2, device="cuda", progress=False,
                          workers=0))
    assert s["final"]["val_top1"] > 0.5  # digits, 2 epochs
    # The file a GPU run wrote evaluates the same on the CPU.
    res = evaluate(str(tmp_path / "run" / "model.safetensors"), workers=0)
    assert res["top1"] == pytest.approx(s["final"]["val_top1"], abs=0.02)


def test_bf16_inference_stays_close_to_fp32():
    model = dsconv.create_model("xception_mini").cuda().eval()
    x = torch.randn(8, 3, 32, 32, device="cuda")
    with torch.inference_mode():
        ref = model(x)
        with torch.autocast("cuda", torch.bfloat16):
            low = model(x).float()
    # bf16 keeps 8 bits of mantissa: logits within 5% of their range
    assert (low - ref).abs().max() <= 0.05 * (ref.max() - ref.min())
    assert (low.argmax(1) == ref.argmax(1)).float().mean() >= 0.75


def test_optimize_eager_and_compile_match_on_cuda():
    from dsconv.deploy import optimize

    model = dsconv.create_model("xception_mini").eval()
    x = torch.randn(3, 3, 24, 24)
    with torch.no_grad():
        ref = model(x)
    for backend in ("eager", "compile"):
        run = optimize(model.cuda(), backend, 24)
        out = run(x.cuda()).cpu()
        torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3, msg=backend)
