"""fp32 against bf16 autocast on this CPU: one training step and one inference batch per model.

Run by hand:  python benchmarks/amp_cpu.py [--reps 3]
All paths in one process, each pair timed back to back; the ratio is bf16 speed / fp32 speed.
`--amp auto` (dsconv.train.precision) picks bf16 on a CPU only where it has native bf16
(AVX512-BF16 or AMX) and one step of the run's model measures faster; this script shows the
figures behind that rule for the CPU it runs on.
"""

import argparse
import json
import platform

import torch

import dsconv
from dsconv.deploy.bench import sgd_step
from dsconv.train.precision import cpu_bf16_flags
from dsconv.utils import median_time, tune_allocator

# (model, input shape without batch, batch, channels_last)
CASES = [("xception", (3, 299, 299), 8, True), ("xception", (3, 299, 299), 1, True),
         ("xception_mini", (1, 16, 16), 64, True), ("xceptiontime", (6, 100), 16, False)]


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def timed(name: str, shape: tuple, bs: int, cl: bool, dtype, train: bool, reps: int) -> float:
    torch.manual_seed(0)
    model = dsconv.create_model(name, num_classes=10, in_chans=shape[0])
    x = torch.randn(bs, *shape)
    if cl:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(
            memory_format=torch.channels_last)
    if train:
        step = sgd_step(model.train(), x, torch.zeros(bs, dtype=torch.long))
    else:
        model.eval()

        def step():
            with torch.inference_mode():
                model(x)

    def run():
        with torch.autocast("cpu", dtype, enabled=dtype is not None):
            step()

    return median_time(run, reps, warmup=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    tune_allocator()
    flags = cpu_bf16_flags()
    print(f"{cpu_name()}; native bf16: {', '.join(flags) or 'none'}; "
          f"{torch.get_num_threads()} threads; torch {torch.__version__}")
    print(f"{'model':<14}{'input':>12}{'batch':>6}{'mode':>7}{'fp32 s':>9}{'bf16 s':>9}"
          f"{'bf16 x':>8}")
    rows = []
    for name, shape, bs, cl in CASES:
        for train in (True, False):
            if name == "xception" and train and bs == 1:
                continue
            t32 = timed(name, shape, bs, cl, None, train, args.reps)
            t16 = timed(name, shape, bs, cl, torch.bfloat16, train, args.reps)
            mode = "train" if train else "infer"
            rows.append(dict(model=name, input=list(shape), batch=bs, mode=mode, fp32_s=t32,
                             bf16_s=t16, bf16_speedup=t32 / t16))
            print(f"{name:<14}{'x'.join(map(str, shape)):>12}{bs:>6}{mode:>7}{t32:>9.3f}"
                  f"{t16:>9.3f}{t32 / t16:>8.2f}")
    print(json.dumps({"cpu": cpu_name(), "bf16_flags": flags, "rows": rows}))


if __name__ == "__main__":
    main()
