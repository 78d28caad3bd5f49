"""Extractive question answering: cross-entropy on the answer's start and end tokens.

Batches hold `start_positions` / `end_positions` (B,); a window without the answer points at
[CLS] (0). Exact match and F1 need the text of each question's best span over all its windows,
so they are computed by the recipe (`recipes/qa.py`) after `data/squad.py: best_answers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["QAMetrics", "QATask"]


@dataclass
class QATask:
    """Args:
    model: a `*ForQuestionAnswering` model returning `.start_logits` and `.end_logits` (B, T).
    """

    model: torch.nn.Module

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k not in ("start_positions", "end_positions")}
        out = self.model(**inputs)
        logits = torch.stack([out.start_logits, out.end_logits], dim=-1)  # (B, T, 2)
        result = {"logits": logits}
        if "start_positions" in batch:
            start = F.cross_entropy(out.start_logits.float(), batch["start_positions"])
            end = F.cross_entropy(out.end_logits.float(), batch["end_positions"])
            result["loss"] = (start + end) / 2
        return result

    def new_metrics(self) -> QAMetrics:
        return QAMetrics()


@dataclass
class QAMetrics:
    """Streaming window-level metrics: how often the start and end token are both right."""

    windows: int = 0
    both_right: int = 0

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """logits (B, T, 2); labels (B, 2): the gold start and end positions."""
        predicted = logits.argmax(1).cpu()  # (B, 2)
        self.windows += int(predicted.shape[0])
        self.both_right += int((predicted == labels.cpu()).all(-1).sum())

    def compute(self) -> dict[str, Any]:
        return {"window_accuracy": self.both_right / max(self.windows, 1), "windows": self.windows}
