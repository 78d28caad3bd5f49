"""How pretune's fine-tuning time grows with data size and with sequence length.

    python benchmarks/scaling.py [--base-rows 400] [--data-length 128]
        [--lengths 128 256 512] [--length-rows 400] [--threads 2]

Data: MiniLM, max length `--data-length`, 1 epoch over 1x, 2x and 4x `--base-rows` BBC
training articles (`--base-rows 0`: the whole training split, 1,701 articles; 2x and 4x then
repeat every article 2 and 4 times, as a corpus twice or four times BBC's size would be to
the step count). Length: `--length-rows` articles at each max length. Reported per run:
training seconds (all steps, first included), the whole run's wall seconds (loading,
tokenising, training, testing), examples/s after step 1, and the growth relative to the
smallest run, next to the growth of the work itself (rows, or real tokens times the
attention-inclusive FLOPs per token).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_common import bbc_rows, pretune_finetune, split_rows


def _run(train: Any, test: Any, overrides: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = pretune_finetune(train, test, overrides, workdir=Path(tmp))
        summary = json.loads((Path(result["run_dir"]) / "summary.json").read_text())
    return {
        "train_seconds": summary["timing"]["train_seconds"],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "examples_per_s": result["examples_per_s"],
        "real_tokens": result["real_tokens"],
        "accuracy": round(result["accuracy"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-rows", type=int, default=400, help="0: all training rows")
    parser.add_argument("--data-length", type=int, default=128)
    parser.add_argument("--length-rows", type=int, default=400)
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    from transformers.utils import logging

    logging.set_verbosity_error()
    splits = split_rows(*bbc_rows("articles"), test_fraction=0.2)
    train_all, test = splits["train"], (splits["test"][0][:64], splits["test"][1][:64])
    common = ["train.epochs=1", "train.batch_size=16", f"train.num_threads={args.threads}"]
    out: dict[str, Any] = {"settings": vars(args), "data_size": {}, "length": {}}
    base = args.base_rows or len(train_all[0])
    for factor in (1, 2, 4):
        n = base * factor
        repeats = -(-n // len(train_all[0]))  # beyond the corpus: its rows again
        train = ((train_all[0] * repeats)[:n], (train_all[1] * repeats)[:n])
        out["data_size"][f"{factor}x ({n} rows)"] = _run(
            train, test, [*common, f"model.max_length={args.data_length}"]
        )
    train = (train_all[0][: args.length_rows], train_all[1][: args.length_rows])
    for length in args.lengths:
        out["length"][str(length)] = _run(train, test, [*common, f"model.max_length={length}"])
    for table in ("data_size", "length"):
        rows = list(out[table].values())
        for row in rows:
            row["time_growth"] = round(row["train_seconds"] / rows[0]["train_seconds"], 2)
            row["real_token_growth"] = round(row["real_tokens"] / rows[0]["real_tokens"], 2)
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
