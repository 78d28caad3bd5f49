"""Sequence classification: cross-entropy over the model's logits, classification metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from pretune.metrics.classification import StreamingClassificationMetrics
from pretune.tasks.losses import build_loss

__all__ = ["ClassifyTask"]


@dataclass
class ClassifyTask:
    """Args:
    model: a `*ForSequenceClassification` model returning `.logits` of shape (B, K).
    label_names: class names in id order.
    class_weights: optional per-class loss weights (K,), e.g. for imbalanced data.
    loss: a name from `pretune.tasks.losses.LOSSES` (cross_entropy, focal, ...).
    loss_params: that loss's parameters, e.g. {"gamma": 2.0}.
    """

    model: torch.nn.Module
    label_names: list[str]
    class_weights: torch.Tensor | None = None
    loss: str = "cross_entropy"
    loss_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # (logits, labels) -> scalar; techniques that mix targets (mixup, R-Drop) reuse it.
        self.loss_fn = build_loss(self.loss, self.loss_params, self.class_weights)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = self.model(**inputs).logits  # (B, K)
        out = {"logits": logits}
        if "labels" in batch:
            out["loss"] = self.loss_fn(logits.float(), batch["labels"])
        return out

    def new_metrics(self) -> StreamingClassificationMetrics:
        return StreamingClassificationMetrics(len(self.label_names))
