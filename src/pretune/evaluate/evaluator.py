"""Run a model over a split batch by batch: metrics are accumulated as it goes, never holding
all logits (memory stays flat as the evaluation set grows)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from pretune.data.batching import inference_batches
from pretune.data.encode import EncodedSplit

__all__ = ["evaluate_split", "predict_probabilities", "split_evaluator"]


def _batches(
    forward: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    split: EncodedSplit,
    batch_size: int,
    device: torch.device,
) -> Iterator[tuple[list[int], dict[str, torch.Tensor], torch.Tensor]]:
    # Longest-first batches waste the least padding; callers restore order via the indices.
    for indices in inference_batches(split.lengths, batch_size):
        batch = {k: v.to(device) for k, v in split.load(indices).items()}
        mask = batch.get("attention_mask")
        if mask is not None and bool(mask.all()):
            # Rows of equal length (common once texts are cut at max_length): without a mask
            # attention takes its unmasked fast path; the outputs are the same.
            del batch["attention_mask"]
        with torch.inference_mode():
            logits = forward(batch)["logits"].float()
        yield indices, batch, logits


def evaluate_split(
    task: Any, split: EncodedSplit, batch_size: int, device: torch.device, label_names: list[str]
) -> dict[str, Any]:
    """Metrics of `task` on a labelled split (the task supplies its metric accumulator)."""
    model = task.model
    was_training = model.training
    model.eval()
    metrics = task.new_metrics()
    for _, batch, logits in _batches(task, split, batch_size, device):
        metrics.update(logits.cpu(), batch["labels"].cpu())
    model.train(was_training)
    return metrics.compute(label_names)


def predict_probabilities(
    model: torch.nn.Module | Callable[[dict[str, torch.Tensor]], torch.Tensor],
    split: EncodedSplit,
    batch_size: int,
    device: torch.device,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yield (row indices, class probabilities (B, K)) batch by batch, longest rows first.

    `model` is a torch classifier, or any `inputs -> logits` function (an onnxruntime session
    wrapped by `runs.Predictor`); inputs never hold `labels`, and hold no `attention_mask`
    when the batch has no padding.
    """
    if isinstance(model, torch.nn.Module):
        model.eval()
        module = model

        def logits_of(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
            return module(**inputs).logits

    else:
        logits_of = model

    def forward(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": logits_of({k: v for k, v in batch.items() if k != "labels"})}

    for indices, _, logits in _batches(forward, split, batch_size, device):
        yield indices, torch.softmax(logits, dim=-1).cpu()


def split_evaluator(
    split: EncodedSplit, batch_size: int, label_names: Sequence[str]
) -> Callable[[Any, torch.device], dict[str, Any]] | None:
    """`(task, device) -> metrics` on `split` (the session's evaluator); None when it is empty."""
    if len(split) == 0:
        return None

    def evaluate(task: Any, device: torch.device) -> dict[str, Any]:
        return evaluate_split(task, split, batch_size, device, list(label_names))

    return evaluate
