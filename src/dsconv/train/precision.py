"""Which precision a run trains in: `--amp auto` decides by what the device can do.

bf16 autocast pays only where the hardware multiplies bf16 natively. Measured (one Xception
training step, batch 8, 2 threads, same process): on an AVX2 CPU bf16 was 5.9x *slower* than
fp32 (emulated); on an AMD EPYC with AVX512-BF16 it was 2.2-2.7x faster. So on a CPU 'auto'
picks fp32 unless the CPU has AVX512-BF16 or AMX-BF16, and there it times one training step
of the run's own model in both precisions (a model's mix of convolutions decides, not the
flag alone) and picks bf16 only when it is clearly faster. The choice is printed, recorded in
the checkpoint and the model file, and kept on --resume so a resumed run stays bit-identical.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..utils import median_time

NAMES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
MIN_GAIN = 1.15  # bf16 must be this much faster to be picked: rounding is not free


@dataclass(frozen=True)
class Precision:
    """The autocast dtype a run uses (None: fp32) and why it was chosen."""

    dtype: torch.dtype | None
    reason: str

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @property
    def amp(self) -> str:
        """The --amp value that reproduces this choice."""
        return {None: "none", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def cpu_bf16_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str]:
    """The native-bf16 instruction sets this CPU reports (Linux; [] where unknown)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return [f for f in BF16_FLAGS if f in flags]


def choose_precision(amp: str, device: torch.device,
                     time_step: Callable[[torch.dtype | None], float] | None = None,
                     bf16_flags: list[str] | None = None) -> Precision:
    """The precision for `--amp amp` on `device`.

    time_step(dtype) -> seconds of one training step in that autocast dtype; used by 'auto' on
    a CPU with native bf16 (without it, such a CPU gets bf16). bf16_flags: the CPU's native
    bf16 sets (default: read from /proc/cpuinfo).
    """
    if amp not in ("auto", *NAMES):
        raise ValueError(f"amp={amp!r}: expected 'auto', 'none', 'bf16' or 'fp16'")
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("amp='fp16' needs a CUDA device; use 'bf16' or 'none' on CPU")
    if amp != "auto":
        return Precision(NAMES[amp], f"--amp {amp}")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Precision(torch.bfloat16, "auto: this CUDA GPU has bf16")
        return Precision(None, "auto: this CUDA GPU has no bf16")
    if device.type != "cpu":
        return Precision(None, f"auto: fp32 on {device.type}")
    flags = cpu_bf16_flags() if bf16_flags is None else bf16_flags
    if not flags:
        return Precision(None, "auto: this CPU has no native bf16 (AVX512-BF16 or AMX), "
                               "where bf16 autocast is emulated and slower")
    if time_step is None:
        return Precision(torch.bfloat16, f"auto: this CPU has {', '.join(flags)}")
    fp32, bf16 = time_step(None), time_step(torch.bfloat16)
    measured = f"one training step measured fp32 {fp32:.3f} s, bf16 {bf16:.3f} s"
    if bf16 * MIN_GAIN <= fp32:
        return Precision(torch.bfloat16, f"auto: this CPU has {', '.join(flags)}; {measured}")
    return Precision(None, f"auto: this CPU has {', '.join(flags)}, but {measured}")


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `amp` on `device`, by capability alone (no measurement)."""
    return choose_precision(amp, device).dtype


def step_timer(model: torch.nn.Module, input_shape: tuple[int, ...], batch_size: int,
               device: torch.device, channels_last: bool = False
               ) -> Callable[[torch.dtype | None], float]:
    """time_step(dtype) for `choose_precision`: median seconds of forward + backward of a copy
    of `model` on a random (batch_size, *input_shape) batch. The run's model, its RNG stream and
    its BN statistics are untouched, so choosing does not change what the run computes."""
    made: dict = {}

    def batch() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
        if not made:  # only when a measurement is needed: a copy costs the model's memory
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(batch_size, *input_shape, generator=gen).to(device)
            if channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            made.update(probe=copy.deepcopy(model).train(), x=x,
                        y=torch.zeros(batch_size, dtype=torch.long, device=device))
        return made["probe"], made["x"], made["y"]

    def step(dtype: torch.dtype | None) -> None:
        probe, x, y = batch()
        with torch.autocast(device.type, dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(probe(x).float(), y)
        loss.backward()
        probe.zero_grad(set_to_none=True)

    def time_step(dtype: torch.dtype | None) -> float:
        with torch.random.fork_rng(devices=[]):  # dropout in the probe draws from a fork
            return median_time(lambda: step(dtype), reps=2, warmup=1)

    return time_step
