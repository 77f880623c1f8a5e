"""dsconv on a CUDA GPU against timm and plain PyTorch, in one run (issue 13).

    python benchmarks/gpu.py                 # all sections, ~5 min on an H100
    python benchmarks/gpu.py --only depthwise

Sections: training images/s (Xception 299 and MobileNet v1 224, bf16 autocast, AdamW, batch 64
and a large batch), inference (batch 1 latency and batch 256 throughput in fp32 / bf16 /
fp16), and the depthwise convs at XceptionTime's and Xception's shapes against the memory roof
(a device-to-device copy measured in the same run). Timings are CUDA-event medians after
warm-up. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import statistics

import torch
import torch.nn.functional as F
from torch import nn

import dsconv


def cuda_ms(fn, reps: int = 20, warmup: int = 5) -> float:
    """Median milliseconds of fn() on the GPU (CUDA events)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def peers(name: str) -> dict[str, nn.Module]:
    """dsconv's model and the peers that exist for it (timm's legacy_xception; plain PyTorch:
    dsconv's network with TF 'same' padding replaced is what tsai/timm-style code does, so the
    plain row is timm where timm has the model)."""
    out = {"dsconv": dsconv.create_model(name)}
    if name == "xception":
        try:
            import timm

            out["timm legacy_xception"] = timm.create_model("legacy_xception", pretrained=False)
        except Exception as e:  # noqa: BLE001 - report, do not fail the run
            print(f"(timm unavailable: {e})")
    return out


def train_rate(model: nn.Module, size: int, batch: int, compile_: bool = False) -> float:
    """Images/s of forward + backward + AdamW (fused) under bf16 autocast, channels_last."""
    model = model.cuda().train().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-4, fused=True)
    net = torch.compile(model) if compile_ else model
    x = torch.randn(batch, 3, size, size, device="cuda").to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", torch.bfloat16):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return batch / cuda_ms(step, reps=10, warmup=5 if not compile_ else 8) * 1e3


def infer_row(model: nn.Module, size: int, dtype: torch.dtype, batch: int) -> float:
    """ms per batch of inference (channels_last; autocast for bf16/fp16)."""
    model = model.cuda().eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size, device="cuda").to(memory_format=torch.channels_last)

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype,
                                                    enabled=dtype != torch.float32):
            model(x)

    return cuda_ms(run)


def section_training(batches: list[int], models: list[str], impls: list[str] | None) -> None:
    print("\n### Training, bf16 autocast, AdamW fused, channels_last (images/s)\n")
    print("| model | size | batch | implementation | eager | compiled |\n|---|---|---|---|---|---|")
    for name, size in (("xception", 299), ("mobilenet_v1", 224)):
        if name not in models:
            continue
        for batch in batches:
            for impl, model in peers(name).items():
                if impls and impl.split()[0] not in impls:
                    continue
                try:
                    eager = train_rate(model, size, batch)
                    comp = train_rate(model, size, batch, compile_=True)
                    print(f"| {name} | {size} | {batch} | {impl} | {eager:.0f} | {comp:.0f} |",
                          flush=True)
                except torch.OutOfMemoryError:
                    print(f"| {name} | {size} | {batch} | {impl} | out of memory | |")
                torch.cuda.empty_cache()


def section_inference() -> None:
    print("\n### Inference (batch 1: ms; batch 256: images/s)\n")
    print("| model | implementation | dtype | batch 1 ms | batch 256 images/s |\n"
          "|---|---|---|---|---|")
    for name, size in (("xception", 299), ("mobilenet_v1", 224)):
        for impl, model in peers(name).items():
            for dname, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16),
                                 ("fp16", torch.float16)):
                one = infer_row(model, size, dtype, 1)
                many = 256 / infer_row(model, size, dtype, 256) * 1e3
                print(f"| {name} | {impl} | {dname} | {one:.2f} | {many:.0f} |", flush=True)
    try:
        import onnxruntime as ort

        print(f"\nONNX Runtime providers: {ort.get_available_providers()}")
    except ImportError:
        print("\nONNX Runtime: not installed on this machine")


def copy_roof() -> float:
    """Device-to-device copy bandwidth in GB/s (bytes read + written)."""
    x = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    ms = cuda_ms(lambda: y.copy_(x))
    return 2 * x.numel() * 4 / ms / 1e6


def section_depthwise() -> None:
    roof = copy_roof()
    print(f"\n### Depthwise convs, fp32, forward + backward (copy roof {roof:.0f} GB/s)\n")
    print("| layer | input | k | torch ms | bytes moved at least | % of roof |\n"
          "|---|---|---|---|---|---|")
    cases = [(1, (64, 128, 512), k) for k in (39, 19, 9)]
    cases += [(2, (32, c, s, s), 3) for c, s in ((128, 147), (256, 74), (728, 37), (728, 19))]
    for dims, shape, k in cases:
        layer = (dsconv.layers.DepthwiseConv1d if dims == 1 else
                 dsconv.layers.DepthwiseConv2d)(shape[1], k).cuda()
        x = torch.randn(*shape, device="cuda", requires_grad=True)
        gy = torch.randn(*shape, device="cuda")

        def run(layer=layer, x=x, gy=gy) -> None:
            x.grad = layer.weight.grad = None
            layer(x).backward(gy)

        ms = cuda_ms(run)
        # forward reads x, writes y; backward reads gy and x, writes gx: 5 tensors at least
        moved = 5 * x.numel() * 4
        print(f"| {'Conv1d' if dims == 1 else 'Conv2d'} | {tuple(shape)} | {k} | {ms:.3f} | "
              f"{moved / 1e6:.0f} MB | {moved / ms / 1e6 / roof * 100:.0f}% |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["training", "inference", "depthwise"], default=None)
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--models", nargs="+", default=["xception", "mobilenet_v1"])
    ap.add_argument("--impls", nargs="+", default=None, help="dsconv, timm (default: all)")
    a = ap.parse_args()
    p = torch.cuda.get_device_properties(0)
    print(f"GPU {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    torch.backends.cudnn.benchmark = True
    if a.only in (None, "depthwise"):
        section_depthwise()
    if a.only in (None, "inference"):
        section_inference()
    if a.only in (None, "training"):
        section_training(a.batches, a.models, a.impls)


if __name__ == "__main__":
    main()
