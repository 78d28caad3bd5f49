"""Time to accuracy: pretune's quickstart defaults vs Hugging Face `Trainer` defaults, one run.

    python benchmarks/time_to_accuracy.py [--target 0.97] [--eval-every 14] [--threads 2]

Both arms fine-tune the bundled MiniLM on the same BBC rows (exact duplicates dropped, a
stratified 80/20 split: 1,701 training and 426 test articles) and score the test rows every
`--eval-every` optimizer steps with one shared function; evaluation is outside the clock.
Each arm stops at the first evaluation at or above `--target`:
  - hf:      `Trainer` + `DataCollatorWithPadding` with the example recipe's settings:
             max length 256, batch 16, lr 5e-5, linear decay, no warm-up, up to 3 epochs;
  - pretune: `run_finetune` with the quickstart's defaults (max length 256, batch 16,
             1 epoch, lr 1e-4 with 10% warm-up and linear decay, attention dropout 0,
             length-grouped batches).
Printed: each arm's training seconds to the target (from the end of its first step), the
ratio hf / pretune, the accuracy curves, and throughput as a fraction of the fp32 matmul peak.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from bench_common import (
    add_peak_fraction,
    bbc_rows,
    hf_finetune,
    in_fresh_process,
    matmul_peak_gflops,
    pretune_finetune,
    split_rows,
)


def seconds_to_target(curve: list[dict[str, float]], target: float) -> float | None:
    """Training seconds at the first evaluation reaching `target` (None: never reached)."""
    return next((p["train_seconds"] for p in curve if p["accuracy"] >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", type=float, default=0.97)
    parser.add_argument("--eval-every", type=int, default=14)
    parser.add_argument("--hf-epochs", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging

    from pretune.models.load import resolve_model_path

    logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bar()
    splits = split_rows(*bbc_rows("articles"), test_fraction=0.2)
    train, test = splits["train"], splits["test"]
    peak = matmul_peak_gflops()
    model_path = resolve_model_path("minilm")
    with tempfile.TemporaryDirectory() as tmp:
        hf = in_fresh_process(hf_finetune, model_path, train, test, max_length=256,
                              batch_size=16, epochs=args.hf_epochs, workdir=Path(tmp),
                              target=args.target, eval_every=args.eval_every,
                              threads=args.threads)  # fmt: skip
        ours = in_fresh_process(pretune_finetune, train, test,
                                [f"train.num_threads={args.threads}"], workdir=Path(tmp),
                                target=args.target, eval_every=args.eval_every)  # fmt: skip
    peak = max(peak, matmul_peak_gflops())
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_path), num_labels=5)
    out: dict[str, Any] = {"settings": vars(args), "rows": {"train": len(train[0]),
                                                            "test": len(test[0])}}  # fmt: skip
    for name, side in (("hf", hf), ("pretune", ours)):
        add_peak_fraction(side, model, peak)
        side["seconds_to_target"] = seconds_to_target(side.get("curve", []), args.target)
        out[name] = side
    out["fp32_matmul_peak_gflops"] = round(peak, 2)
    if hf["seconds_to_target"] and ours["seconds_to_target"]:
        out["ratio_hf_over_pretune"] = round(hf["seconds_to_target"] / ours["seconds_to_target"], 3)
    out["torch"], out["threads"] = torch.__version__, torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
