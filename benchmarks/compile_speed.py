"""Does `torch.compile` speed up MiniLM fine-tuning steps on this CPU? Eager vs compiled.

    python benchmarks/compile_speed.py [--lengths 128 256] [--steps 6] [--threads 2]

Lengths are bucketed to the few sizes given (as a compiled run would pad to), so the compiled
model compiles once per bucket, not once per batch: the report gives each bucket's compile
time (the first step) and steady step time for eager and compiled, with their ratio. Both
models start from the same weights and train on the same BBC batches (batch 16, attention
dropout 0: pretune's defaults). pretune keeps eager mode unless this shows a clear win.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch
from bench_common import bbc_rows


def _step(model: Any, optimizer: Any, batch: dict[str, torch.Tensor]) -> float:
    start = time.perf_counter()
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging

    from pretune.models.load import resolve_model_path

    logging.set_verbosity_error()
    path = resolve_model_path("minilm")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    texts, labels = bbc_rows("articles")
    names = sorted(set(labels))
    out: dict[str, Any] = {"settings": vars(args), "buckets": {}}
    arms = {}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(path), num_labels=len(names), attention_probs_dropout_prob=0.0
        )
        model.train()
        runner = torch.compile(model) if name == "compiled" else model
        arms[name] = (runner, torch.optim.AdamW(model.parameters(), lr=5e-5, foreach=True))
    for length in args.lengths:
        times: dict[str, list[float]] = {name: [] for name in arms}
        for step in range(args.steps + 1):
            rows = range(16 * step, 16 * step + 16)
            batch = tokenizer([texts[i] for i in rows], truncation=True, max_length=length,
                              padding="max_length", return_tensors="pt")  # fmt: skip
            batch["labels"] = torch.tensor([names.index(labels[i]) for i in rows])
            for name, (runner, optimizer) in arms.items():
                times[name].append(_step(runner, optimizer, batch))
        bucket = {}
        for name, series in times.items():
            bucket[name] = {"first_step_s": round(series[0], 2),
                            "steady_step_s": round(min(series[1:]), 3)}  # fmt: skip
        bucket["speedup_compiled"] = round(
            bucket["eager"]["steady_step_s"] / bucket["compiled"]["steady_step_s"], 3
        )
        out["buckets"][str(length)] = bucket
    out["torch"], out["threads"] = torch.__version__, torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
