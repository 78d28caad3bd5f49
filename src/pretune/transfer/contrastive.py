"""Contrastive sentence-embedding task: pairs of texts -> cosine-similarity loss.

The batch holds both sides of B pairs stacked into one forward pass: rows [0, B) are the
first texts, rows [B, 2B) their partners, and `labels` (B,) the target similarity (1 same
class, 0 different). The encoder is a bare Hugging Face AutoModel; embeddings are mean-pooled.
Loss (SetFit's default, sentence-transformers' CosineSimilarityLoss): mean squared error
between cos(a, b) and the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pretune.transfer.embed import mean_pool

__all__ = ["ContrastiveTask", "PairMetrics"]


class PairMetrics:
    """Streaming pair accuracy: cos > 0.5 predicts "same class"."""

    def __init__(self) -> None:
        self.correct = 0
        self.total = 0
        self.loss_sum = 0.0

    def update(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> None:
        pred = outputs["logits"].detach() > 0.5
        self.correct += int((pred == (labels > 0.5)).sum())
        self.total += int(labels.numel())
        self.loss_sum += float(outputs["loss"].detach()) * int(labels.numel())

    def compute(self) -> dict[str, Any]:
        n = max(1, self.total)
        return {"pair_accuracy": self.correct / n, "loss": self.loss_sum / n}


@dataclass
class ContrastiveTask:
    """Args:
    model: an encoder returning `.last_hidden_state` (B, L, H).
    loss: "cosine" (MSE to the target similarity) or "contrastive" (margin loss on 1 - cos:
        positives pulled to distance 0, negatives pushed beyond `margin`).
    margin: the distance negatives are pushed past (contrastive only).
    """

    model: torch.nn.Module
    loss: str = "cosine"
    margin: float = 0.5

    def __post_init__(self) -> None:
        if self.loss not in ("cosine", "contrastive"):
            raise ValueError(f"unknown contrastive loss {self.loss!r}; use cosine or contrastive")

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask = batch["attention_mask"]
        hidden = self.model(input_ids=batch["input_ids"], attention_mask=mask).last_hidden_state
        emb = mean_pool(hidden, mask).float()
        half = emb.shape[0] // 2
        cos = torch.nn.functional.cosine_similarity(emb[:half], emb[half:], dim=-1)  # (B,)
        out = {"logits": cos}
        if "labels" in batch:
            target = batch["labels"].float()
            if self.loss == "cosine":
                out["loss"] = torch.nn.functional.mse_loss(cos, target)
            else:
                distance = 1.0 - cos
                pushed = torch.relu(self.margin - distance)
                out["loss"] = (target * distance**2 + (1 - target) * pushed**2).mean() / 2
        return out

    def new_metrics(self) -> PairMetrics:
        return PairMetrics()
