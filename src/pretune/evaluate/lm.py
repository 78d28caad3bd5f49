"""Evaluate a language-model task (masked, causal or SFT) on a split, batch by batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from pretune.data.batching import inference_batches
from pretune.data.packing import batch_generator

__all__ = ["evaluate_lm"]

_EVAL_EPOCH = 1_000_000  # validation masks come from their own (fixed) random stream


def evaluate_lm(
    task: Any,
    split: Any,
    batch_size: int,
    device: Any,
    prepare: Callable[..., dict[str, torch.Tensor]] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Token-level loss, accuracy and perplexity of `task` on `split` (anything with
    `lengths` and `load(indices)`). `prepare(batch, generator)` makes each batch's inputs and
    labels (MLM masking) from a fixed random stream, so every evaluation sees the same masks."""
    model = task.model
    was_training = model.training
    model.eval()
    metrics = task.new_metrics()
    for position, indices in enumerate(inference_batches(split.lengths, batch_size)):
        batch = split.load(indices)
        if prepare is not None:
            batch = prepare(batch, batch_generator(seed, _EVAL_EPOCH, position))
        with torch.inference_mode():
            metrics.update(task({k: v.to(device) for k, v in batch.items()}))
    model.train(was_training)
    return metrics.compute()
