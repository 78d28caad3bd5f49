"""Fine-tuning throughput at equal work: pretune vs `transformers.Trainer`, in one run.

    python benchmarks/finetune_throughput.py [--dataset articles|leads|mixed] [--max-length 256]
        [--batch-size 16] [--epochs 1] [--train-examples N] [--threads 2]

Both arms fine-tune the bundled MiniLM on the same BBC rows (exact duplicates dropped, a
stratified 80/20 split), with the same max length, batch size and epochs:
  - hf:      `Trainer` + `DataCollatorWithPadding`, Hugging Face's defaults (lr 5e-5,
             linear decay, the checkpoint's dropout), the text-classification example recipe;
  - pretune: `run_finetune` with HF's optimisation settings (lr 5e-5, linear decay, no
             warm-up, no weight decay, clipping at 1) and pretune's own way of doing the
             work: length-grouped batches, attention dropout 0, fused AdamW.
Each arm runs in a fresh process. Printed: training examples/s and real (non-padding)
tokens/s timed from the end of step 1 to the end of training, their ratio, test accuracy of
both (the same scoring function), the achieved GFLOP/s as a fraction of this machine's fp32
matmul peak (measured in the same run), and each arm's process peak resident memory.
Dataset `leads` (title plus first paragraph, 10-90 tokens) is a set of short texts; `mixed`
(articles cut after a random number of paragraphs, 12-256 tokens) spreads lengths over the
whole range, where padding costs the most.
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
    equal_work_overrides,
    hf_finetune,
    in_fresh_process,
    matmul_peak_gflops,
    pretune_finetune,
    split_rows,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["articles", "leads", "mixed"], default="articles")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--train-examples", type=int, help="first N training rows only")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-hf", action="store_true", help="pretune's arm only (debugging)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging

    from pretune.models.load import resolve_model_path

    logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bar()
    splits = split_rows(*bbc_rows(args.dataset), args.test_fraction)
    train, test = splits["train"], splits["test"]
    if args.train_examples:
        train = (train[0][: args.train_examples], train[1][: args.train_examples])
    peak = matmul_peak_gflops()
    out: dict[str, Any] = {"settings": vars(args), "rows": {"train": len(train[0]),
                                                            "test": len(test[0])}}  # fmt: skip
    model_path = resolve_model_path("minilm")
    common = equal_work_overrides(args.max_length, args.batch_size, args.epochs, args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        hf = None
        if not args.skip_hf:
            hf = in_fresh_process(hf_finetune, model_path, train, test,
                                  max_length=args.max_length, batch_size=args.batch_size,
                                  epochs=args.epochs, workdir=Path(tmp),
                                  threads=args.threads)  # fmt: skip
        ours = in_fresh_process(pretune_finetune, train, test, common, workdir=Path(tmp))
    peak = max(peak, matmul_peak_gflops())
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_path), num_labels=5)
    arms = {"pretune": ours} | ({"hf": hf} if hf else {})
    for side in arms.values():
        add_peak_fraction(side, model, peak)
    out["fp32_matmul_peak_gflops"] = round(peak, 2)
    out |= arms
    if hf:
        out["ratio_examples_per_s"] = round(ours["examples_per_s"] / hf["examples_per_s"], 3)
        out["accuracy_difference_points"] = round(100 * (ours["accuracy"] - hf["accuracy"]), 2)
    out["torch"], out["threads"] = torch.__version__, torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
