"""Equal-work test accuracy over several seeds: HF `Trainer` vs pretune, with and without
length-grouped batches.

    python benchmarks/accuracy_seeds.py [--dataset leads|articles|mixed] [--seeds 0 1 2]
        [--threads 2]

The arms of `finetune_throughput.py` (same rows, max length 256, batch 16, 1 epoch, HF's
optimisation settings on both sides), each in a fresh process, once per seed; the seed sets
the classifier head's initialisation and the batch order. One seed moves test accuracy by
more than a point on a few hundred test texts, so a 0.5-point comparison needs several.
Prints per-seed accuracies, each arm's mean and spread, and pretune's mean difference to HF.
About 4-5 minutes per seed on leads: the default 3 seeds fit 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from bench_common import (
    bbc_rows,
    equal_work_overrides,
    hf_finetune,
    in_fresh_process,
    pretune_finetune,
    split_rows,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["articles", "leads", "mixed"], default="leads")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    from transformers.utils import logging

    from pretune.models.load import resolve_model_path

    logging.set_verbosity_error()
    splits = split_rows(*bbc_rows(args.dataset), test_fraction=0.2)
    train, test = splits["train"], splits["test"]
    common = equal_work_overrides(256, 16, 1, args.threads)
    accuracy: dict[str, list[float]] = {"hf": [], "pretune": [], "pretune_random_batches": []}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            hf = in_fresh_process(hf_finetune, resolve_model_path("minilm"), train, test,
                                  max_length=256, batch_size=16, epochs=1, workdir=Path(tmp),
                                  threads=args.threads, seed=seed)  # fmt: skip
        accuracy["hf"].append(hf["accuracy"])
        for name, grouped in (("pretune", True), ("pretune_random_batches", False)):
            overrides = [*common, f"seed={seed}", f"train.group_by_length={grouped}"]
            with tempfile.TemporaryDirectory() as tmp:
                ours = in_fresh_process(pretune_finetune, train, test, overrides,
                                        workdir=Path(tmp))  # fmt: skip
            accuracy[name].append(ours["accuracy"])
    out: dict[str, Any] = {"settings": vars(args), "test_rows": len(test[0])}
    for name, values in accuracy.items():
        out[name] = {
            "per_seed": [round(v, 4) for v in values],
            "mean": round(statistics.mean(values), 4),
            "spread_points": round(100 * (max(values) - min(values)), 2),
        }
    out["pretune_minus_hf_mean_points"] = round(
        100 * (out["pretune"]["mean"] - out["hf"]["mean"]), 2
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
