"""Token classification (NER): cross-entropy per sub-word token, entity-level metrics.

Labels are (B, T) with -100 where no loss applies (special tokens, padding and, by default,
the later sub-tokens of a word; see `data/conll.py: align_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from pretune.data.masking import IGNORE_INDEX
from pretune.metrics.seqeval import Chunking, entity_scores

__all__ = ["NerMetrics", "NerTask"]


@dataclass
class NerTask:
    """Args:
    model: a `*ForTokenClassification` model returning `.logits` of shape (B, T, K).
    label_names: IOB2 tags in id order (O, B-X, I-X, ...).
    chunking: how tag sequences become entities in the metrics ("strict" or "conlleval").
    """

    model: torch.nn.Module
    label_names: list[str]
    chunking: Chunking = "strict"

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = self.model(**inputs).logits  # (B, T, K)
        out = {"logits": logits}
        if "labels" in batch:
            out["loss"] = F.cross_entropy(
                logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX
            )
        return out

    def new_metrics(self) -> NerMetrics:
        return NerMetrics(self.label_names, self.chunking)


@dataclass
class NerMetrics:
    """Streaming metrics over labelled positions: each row's labelled tokens form one tag
    sequence (the words, when only first sub-tokens are labelled); entity P/R/F1 at the end."""

    label_names: list[str]
    chunking: Chunking = "strict"
    gold: list[list[str]] = field(default_factory=list)
    pred: list[list[str]] = field(default_factory=list)

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        predicted = logits.argmax(-1).cpu()
        labels = labels.cpu()
        for row_pred, row_gold in zip(predicted, labels, strict=True):
            keep = row_gold != IGNORE_INDEX
            self.gold.append([self.label_names[i] for i in row_gold[keep].tolist()])
            self.pred.append([self.label_names[i] for i in row_pred[keep].tolist()])

    def compute(self) -> dict[str, Any]:
        return entity_scores(self.gold, self.pred, self.chunking)
