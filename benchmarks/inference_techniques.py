"""Each inference technique of `pretune predict`, switched off alone, against the defaults.

    python benchmarks/inference_techniques.py RUN [--dataset articles|mixed] [--texts 512]
        [--batch-size 32] [--passes 2] [--threads 2]

RUN is a finished text-classification run (e.g. the one `make quickstart` writes). The same
texts go through pretune's prediction loop (texts tokenised once, `evaluator` batches) with one
technique switched off at a time; the report gives examples/s per variant, its ratio to the
defaults (below 1: the technique helps by the inverse when on), and whether its labels equal
the defaults'. Variants rotate from pass to pass; each keeps its best pass.

  defaults          sorted by length, inference_mode, SDPA attention, an all-ones mask
                    dropped, the last layer at the first token only (`models.first_token`)
  unsorted          batches in input order (padding to the longest of each)
  no_grad           torch.no_grad instead of torch.inference_mode
  eager_attention   the model loaded with attn_implementation="eager" instead of SDPA
  keep_full_mask    the attention mask passed even when a batch has no padding
  all_positions     the last layer computed at every position

Also reported: the seconds to tokenise the texts (once, batched), as a share of the default
prediction time: what caching the tokenisation saves on every later pass over the same rows.
Dataset `articles`: BBC articles in a seeded shuffle (mostly cut at 256 tokens); `mixed`:
articles cut after a random number of paragraphs (12-256 tokens, bench_common.bbc_rows).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_common import bbc_rows, inference_parser

VARIANTS = ["defaults", "unsorted", "no_grad", "eager_attention", "keep_full_mask",
            "all_positions"]  # fmt: skip


def _load_model(model_dir: Path, variant: str) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    from pretune.models.first_token import first_token_inference

    attention = "eager" if variant == "eager_attention" else "sdpa"
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir), attn_implementation=attention
    ).eval()
    if variant != "all_positions":
        first_token_inference(model)
    return model


def _predict(model: torch.nn.Module, split: Any, batch_size: int, variant: str) -> list[int]:
    """Predicted class of every row, in input order, as the variant does it."""
    from pretune.data.batching import inference_batches

    if variant == "unsorted":
        n = len(split.lengths)
        batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    else:
        batches = inference_batches(split.lengths, batch_size)
    grad_mode: Callable[[], Any] = torch.no_grad if variant == "no_grad" else torch.inference_mode
    labels = [0] * len(split.lengths)
    for indices in batches:
        batch = split.load(indices)
        batch.pop("labels", None)
        if variant != "keep_full_mask" and bool(batch["attention_mask"].all()):
            del batch["attention_mask"]
        with grad_mode():
            predicted = model(**batch).logits.argmax(-1).tolist()
        for i, label in zip(indices, predicted, strict=True):
            labels[i] = label
    return labels


def main() -> None:
    parser = inference_parser(__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging

    from pretune.data.encode import encode_split
    from pretune.models.load import load_tokenizer
    from pretune.runs import find_model_dir, run_max_length

    logging.set_verbosity_error()
    texts = bbc_rows(args.dataset)[0]
    random.Random(0).shuffle(texts)
    texts = texts[: args.texts]
    model_dir = find_model_dir(args.run)
    tokenizer = load_tokenizer(model_dir)
    max_length = run_max_length(args.run, model_dir, tokenizer)
    start = time.perf_counter()
    split = encode_split(tokenizer, texts, max_length=max_length)
    tokenize_seconds = time.perf_counter() - start
    models = {name: _load_model(model_dir, name) for name in args.variants}
    best: dict[str, float] = {}
    labels: dict[str, list[int]] = {}
    for p in range(args.passes):
        names = args.variants[p % len(args.variants) :] + args.variants[: p % len(args.variants)]
        for name in names:
            start = time.perf_counter()
            with contextlib.redirect_stdout(None):
                labels[name] = _predict(models[name], split, args.batch_size, name)
            best[name] = max(best.get(name, 0.0), len(texts) / (time.perf_counter() - start))
    reference = best.get("defaults", max(best.values()))
    out: dict[str, Any] = {
        "settings": vars(args) | {"run": str(args.run)},
        "max_length": max_length,
        "mean_real_tokens": round(sum(split.lengths) / len(texts), 1),
        "tokenize_seconds": round(tokenize_seconds, 3),
    }
    if "defaults" in best:
        out["tokenize_share_of_prediction"] = round(
            tokenize_seconds / (len(texts) / best["defaults"]), 4
        )
    for name in args.variants:
        out[name] = {
            "examples_per_s": round(best[name], 3),
            "ratio_to_defaults": round(best[name] / reference, 3),
            "labels_equal_defaults": labels[name] == labels.get("defaults", labels[name]),
        }
    out["torch"], out["threads"] = torch.__version__, torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
