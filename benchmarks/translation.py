"""Translation goals of issue 19: SliceNet against its regular-conv twin and a Transformer.

quality: each model trained by `dsconv train`'s defaults under the same --time-limit on the
same data, one after the other in this process, then sacreBLEU (beam 4, default signature) and
chrF on the validation pairs, with parameters and training tokens/s.

    python benchmarks/translation.py quality --data ../shared/data/multi30k/train.en-de \\
        --minutes 30 --models slicenet_small transformer slicenet_standard

speed: in one process, on the same batches: training tokens/s of each model (batches of about
4,000 tokens of Multi30k), greedy decoding of 50 tokens incremental vs recomputed, and
translation throughput (beam 4, batch 32). Ratios are against the first model named.

    python benchmarks/translation.py speed --data ../shared/data/multi30k/train.en-de
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from dsconv.data import DataSettings, modality_of
from dsconv.models import create_model
from dsconv.models.decode import beam_search, greedy
from dsconv.train import TrainConfig, evaluate, train
from dsconv.utils import median_time
from dsconv.weights import load_model


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _steps_per_epoch(out: Path) -> int:
    """From the run's metrics.csv: epoch 1's last step (the last row of a --time-limit run may
    be a partial epoch; the first is whole unless the run stopped within it)."""
    with open(out / "metrics.csv") as fh:
        return int(next(csv.DictReader(fh))["step"])


def quality(args: argparse.Namespace) -> None:
    rows = []
    for name in args.models:
        out = Path(args.out) / name
        s = train(TrainConfig(model=name, data=args.data, out=str(out), overwrite=True,
                              time_limit=args.minutes, epochs=args.epochs, seed=args.seed,
                              progress=args.progress))
        t0 = time.perf_counter()  # beam 4, batches of 32: also the translation throughput
        m = evaluate(out / "model.safetensors", args.val, beam=4)
        sent_s = m["n"] / (time.perf_counter() - t0)
        f = s["final"]
        net, _ = load_model(out / "model.safetensors")
        rows.append({"model": name, "params": sum(p.numel() for p in net.parameters()),
                     "steps": s["steps"],
            "epochs": round(s["steps"] / _steps_per_epoch(out), 2),
            "train_min": round(s["wall_s"] / 60, 1), "tok_per_s": round(f.get("tok_per_s", 0)),
            "greedy_bleu": round(f.get("val_bleu", float("nan")), 2),
            "beam4_bleu": round(m["bleu"], 2), "chrf": round(m["chrf"], 2),
            "beam4_sent_s": round(sent_s, 1),
            "signature": m["bleu_signature"]})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{cpu_name()}, {torch.get_num_threads()} threads, {args.data}, "
          f"--time-limit {args.minutes} min\n")
    print("| model | params | steps | train min | tok/s | greedy BLEU | beam-4 BLEU | chrF | "
          "beam-4 sent/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['params'] / 1e6:.2f} M | {r['steps']} | {r['train_min']} | "
              f"{r['tok_per_s']} | {r['greedy_bleu']} | {r['beam4_bleu']} | {r['chrf']} | "
              f"{r['beam4_sent_s']} |")


def _batches(data: str, max_tokens: int, n: int) -> tuple[list, int]:
    """n training batches of about max_tokens tokens from `data` (the first of a fixed plan)."""
    sets = modality_of(data).training_data(DataSettings(spec=data), "slicenet_small")
    pairs = sets.train
    plan = pairs.batch_plan(max_tokens)
    step = max(len(plan) // n, 1)
    picked = [pairs.collate([pairs[i] for i in plan[j]]) for j in range(0, step * n, step)]
    return picked, sets.preprocess.vocab_size


def _train_tok_s(model: torch.nn.Module, batches: list) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def one_pass() -> None:
        for (src, tgt_in), tgt_out, _ in batches:
            loss = torch.nn.functional.cross_entropy(
                model(src, tgt_in).flatten(0, -2), tgt_out.flatten())
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    tokens = sum(int((b[1] != -100).sum()) for b in batches)
    return tokens / median_time(one_pass, reps=3, warmup=1)


def _decode_ms(model: torch.nn.Module, src: torch.Tensor, steps: int, recompute: bool) -> float:
    """ms to decode `steps` tokens greedily (forced: no early stop), incremental or not."""
    from dsconv.models.seq2seq import BOS

    model.eval()

    @torch.inference_mode()
    def run() -> None:
        memory = model.encode(src)
        tokens = torch.full((src.shape[0], 1), BOS, dtype=torch.long)
        state = None if recompute else model.start(memory)
        for _ in range(steps):
            if recompute:
                logits = model.decode(memory, tokens)[:, -1]
            else:
                logits = model.step(state, tokens[:, -1])
            tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], 1)

    return 1e3 * median_time(run, reps=3, warmup=1)


def speed(args: argparse.Namespace) -> None:
    batches, vocab = _batches(args.data, 4000, args.steps)
    src32 = batches[0][0][0][:32]
    print(f"{cpu_name()}, {torch.get_num_threads()} threads; vocab {vocab}; "
          f"{len(batches)} batches of ~4000 tokens; ratios against {args.models[0]}")
    print("| model | params | train tok/s | ratio | greedy 50 tok incremental ms | recompute ms "
          "| speed-up | beam-4 sent/s (batch 32) | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    first = None
    for name in args.models:
        torch.manual_seed(0)
        model = create_model(name, vocab_size=vocab)
        tok_s = _train_tok_s(model, batches)
        inc = _decode_ms(model, src32, 50, recompute=False)
        rec = _decode_ms(model, src32, 50, recompute=True)
        model.eval()
        with torch.inference_mode():
            beam_s = median_time(lambda m=model: beam_search(m, src32, beam=4), reps=3,
                                 warmup=1)
            greedy(model, src32[:2])  # the decoders run (no shape surprises) before reporting
        sent_s = len(src32) / beam_s
        first = first or (tok_s, sent_s)
        params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {params / 1e6:.2f} M | {tok_s:.0f} | {tok_s / first[0]:.2f} | "
              f"{inc:.0f} | {rec:.0f} | {rec / inc:.1f}x | {sent_s:.1f} | "
              f"{sent_s / first[1]:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--data", required=True, help="training pairs, e.g. .../train.en-de")
    q.add_argument("--val", default=None, help="evaluation pairs (default: beside --data)")
    q.add_argument("--models", nargs="+", default=["slicenet_small", "transformer"])
    q.add_argument("--minutes", type=float, default=30.0)
    q.add_argument("--epochs", type=int, default=None, help="default: train's (text: 12)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default="runs/bench-translation")
    q.add_argument("--progress", action="store_true")
    q.set_defaults(func=quality)
    s = sub.add_parser("speed")
    s.add_argument("--data", required=True)
    s.add_argument("--models", nargs="+", default=["transformer", "slicenet_small",
                                                    "slicenet_standard"])
    s.add_argument("--steps", type=int, default=4, help="training batches timed per model")
    s.set_defaults(func=speed)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
