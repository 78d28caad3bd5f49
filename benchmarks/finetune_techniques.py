"""Each speed technique of pretune's fine-tuning, switched off alone, against the defaults.

    python benchmarks/finetune_techniques.py [--dataset articles|leads|mixed] [--steps 20]
        [--threads 2]

Every variant fine-tunes the bundled MiniLM for `--steps` optimizer steps (batch 16, max
length 256) on the same BBC training rows, timed from the end of step 1 (bench_common). The
report gives training examples/s per variant and its ratio to pretune's defaults (below 1:
the technique helps by that factor when on). The variants run in a rotating order twice and
the best of the two counts, so a moment of load on a shared machine does not decide a row.

  defaults                  attention dropout 0, length-grouped batches, all threads
  attention_dropout_model   the checkpoint's own attention dropout (0.1 for MiniLM)
  no_length_grouping        batches drawn at random (padding to the longest of each)
  one_thread                torch intra-op threads = 1
  frozen_embeddings         word embeddings frozen: no gradient or Adam update for the
                            largest matrix (a change of the training, not only of its speed)
  frozen_lower_half         embeddings and layers 0-2 of 6 frozen: backward stops at layer 3
  linear_probe              only the classifier trains: no backward through the encoder
The last three change what is trained; they measure the saving of skipping the backward
through frozen layers, not a default.

Also reported (`data_costs`): the seconds to tokenise the training texts once and to build one
epoch's batches without the model, as shares of an epoch of training at the defaults' speed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from bench_common import bbc_rows, pretune_finetune, split_rows

VARIANTS: dict[str, list[str]] = {
    "defaults": [],
    "attention_dropout_model": ["model.attention_dropout=null"],
    "no_length_grouping": ["train.group_by_length=false"],
    "one_thread": ["train.num_threads=1"],
    "frozen_embeddings": ["model.freeze_embeddings=true"],
    "frozen_lower_half": ["techniques.freeze.freeze=[*embeddings*,*layer.[012].*]"],
    "linear_probe": ["techniques.freeze.train=[classifier.*]"],
}


def _data_costs(texts: list[str], examples_per_s: float | None) -> dict[str, float]:
    """Seconds to tokenise the training texts once, and to build every batch of one epoch
    (index, pad, tensors) without the model, each as a share of one epoch of training at the
    defaults' speed. Tokenising happens once per run (cached), batching on every step in the
    training process: its share is what data loading can take from the model at most."""
    import time

    from pretune.data.encode import TrainBatches, encode_split
    from pretune.models.load import load_tokenizer, resolve_model_path

    tokenizer = load_tokenizer(resolve_model_path("minilm"))
    start = time.perf_counter()
    split = encode_split(tokenizer, texts, max_length=256, labels=[0] * len(texts))
    tokenize = time.perf_counter() - start
    batches = TrainBatches(split, batch_size=16, seed=0)
    start = time.perf_counter()
    for indices in batches.epoch_batches(0):
        batches.load(indices)
    batching = time.perf_counter() - start
    epoch = len(texts) / examples_per_s if examples_per_s else float("nan")
    return {
        "tokenize_seconds": round(tokenize, 3),
        "batching_seconds_per_epoch": round(batching, 3),
        "training_seconds_per_epoch": round(epoch, 1),
        "tokenize_share_of_epoch": round(tokenize / epoch, 4),
        "batching_share_of_epoch": round(batching / epoch, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["articles", "leads", "mixed"], default="articles")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    from transformers.utils import logging

    logging.set_verbosity_error()
    splits = split_rows(*bbc_rows(args.dataset), test_fraction=0.2)
    # Scoring the test split is not what is measured here: a few rows keep it short.
    train, test = splits["train"], (splits["test"][0][:32], splits["test"][1][:32])
    base = [f"train.max_steps={args.steps}", "train.batch_size=16", "model.max_length=256",
            f"train.num_threads={args.threads}"]  # fmt: skip
    best: dict[str, dict[str, Any]] = {}
    names = list(args.variants)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            torch.set_num_threads(args.threads)
            with tempfile.TemporaryDirectory() as tmp:
                result = pretune_finetune(train, test, [*base, *VARIANTS[name]], workdir=Path(tmp))
            keep = {k: result[k] for k in ("examples_per_s", "real_tokens_per_s", "steps")}
            if name not in best or keep["examples_per_s"] > best[name]["examples_per_s"]:
                best[name] = keep
    out: dict[str, Any] = {"settings": vars(args), "variants": {}}
    reference = best.get("defaults", {}).get("examples_per_s")
    out["data_costs"] = _data_costs(train[0], reference)
    for name, result in best.items():
        if reference:
            result["ratio_to_defaults"] = round(result["examples_per_s"] / reference, 3)
        out["variants"][name] = result
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
