"""Sequence classification: cross-entropy over the model's logits, classification metrics."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from pretune.evaluate.metrics import StreamingClassificationMetrics

__all__ = ["ClassifyTask"]


@dataclass
class ClassifyTask:
    """Args:
    model: a `*ForSequenceClassification` model returning `.logits` of shape (B, K).
    label_names: class names in id order.
    class_weights: optional per-class loss weights (K,), e.g. for imbalanced data.
    """

    model: torch.nn.Module
    label_names: list[str]
    class_weights: torch.Tensor | None = None

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = self.model(**inputs).logits  # (B, K)
        out = {"logits": logits}
        if "labels" in batch:
            weight = None
            if self.class_weights is not None:
                weight = self.class_weights.to(device=logits.device, dtype=logits.dtype)
            out["loss"] = F.cross_entropy(logits.float(), batch["labels"], weight=weight)
        return out

    def new_metrics(self) -> StreamingClassificationMetrics:
        return StreamingClassificationMetrics(len(self.label_names))
