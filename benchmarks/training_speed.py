"""Xception 299x299 training steps on CPU: PyTorch NCHW, dsconv's trainer settings, compile, Keras.

Run by hand:  python benchmarks/training_speed.py [--batch 8] [--reps 3] [--no-compile]
                                                  [--no-keras]
One SGD-momentum step (forward, cross-entropy, backward, update) per call, median of --reps
after one warm-up step, all paths in one process; ratios against PyTorch channels_last eager.
dsconv's trainer default is channels_last + the allocator setting (applied first, as the CLI
does); the compile row shows why compile stays off by default on CPU.
"""

import argparse
import json
import time

import numpy as np
import torch

import dsconv
from dsconv.deploy.bench import sgd_step
from dsconv.deploy.keras_peer import keras_counterpart
from dsconv.utils import median_time, tune_allocator


def torch_step(channels_last: bool, compile: bool, bs: int):
    torch.manual_seed(0)
    model = dsconv.create_model("xception")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model.train()) if compile else model.train()
    x, y = torch.randn(bs, 3, 299, 299), torch.randint(0, 1000, (bs,))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return sgd_step(net, x, y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-keras", action="store_true")
    args = ap.parse_args()
    tune_allocator()
    bs = args.batch
    paths = {"PyTorch eager NCHW": lambda: torch_step(False, False, bs),
             "PyTorch eager channels_last (dsconv trainer default)":
                 lambda: torch_step(True, False, bs)}
    if not args.no_compile:
        paths["torch.compile channels_last"] = lambda: torch_step(True, True, bs)
    if not args.no_keras:
        net, label = keras_counterpart(dsconv.create_model("xception"), 299)

        def keras_step():
            import keras  # imported by keras_counterpart, on the backend it chose

            net.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                        loss="sparse_categorical_crossentropy")
            x = np.random.default_rng(0).standard_normal((bs, 299, 299, 3), np.float32)
            y = np.zeros(bs, np.int64)
            return lambda: net.train_on_batch(x, y)

        paths[f"{label} train_on_batch"] = keras_step
    rows = []
    for name, make in paths.items():
        step = make()
        t0 = time.perf_counter()
        step()  # warm-up (and compilation)
        first = time.perf_counter() - t0
        t = median_time(step, args.reps, warmup=0)
        rows.append(dict(path=name, batch=bs, s_per_step=t, img_s=bs / t, first_step_s=first))
        del step
    ref = next(r for r in rows if "channels_last (dsconv" in r["path"])["img_s"]
    print(f"Xception 299 training, batch {bs}, {torch.get_num_threads()} threads")
    print(f"{'path':<54}{'s/step':>8}{'img/s':>8}{'x CL':>7}{'1st s':>7}")
    for r in rows:
        r["x_channels_last"] = r["img_s"] / ref
        print(f"{r['path']:<54}{r['s_per_step']:>8.2f}{r['img_s']:>8.2f}"
              f"{r['x_channels_last']:>7.2f}{r['first_step_s']:>7.1f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
