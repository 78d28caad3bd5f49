"""Masked language modelling: predict the original token at the masked positions only.

The LM head (hidden -> vocabulary) is the most expensive layer of a small encoder, and only
~15% of positions carry a loss, so the hidden states of the masked positions are gathered
first and only those go through the head: (M, H) -> (M, V) instead of (B, T, H) -> (B, T, V).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from pretune.data.masking import IGNORE_INDEX
from pretune.metrics.streaming import StreamingMeans

__all__ = ["LMMetrics", "MLMTask", "lm_head_parts", "model_inputs", "token_outputs"]

_HEAD_NAMES = ("cls", "lm_head", "generator_lm_head", "pred_head")


def lm_head_parts(model: torch.nn.Module) -> tuple[Any, Any] | None:
    """(backbone, head) of a `*ForMaskedLM`/`*ForCausalLM` model, or None if not recognised.

    The backbone returns hidden states (B, T, H) and the head maps (..., H) -> (..., V).
    A peft (LoRA) wrapper is looked through: its `base_model` is the whole wrapped LM.
    """
    get_base_model = getattr(model, "get_base_model", None)
    if callable(get_base_model):
        model = get_base_model()
    base = getattr(model, "base_model", None)
    if base is None or base is model:
        return None
    for name in _HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return base, head
    return None


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors the backbone takes; an all-ones attention mask (packed rows) is dropped so
    attention can take its fast path without a mask."""
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids") if k in batch}
    mask = batch.get("attention_mask")
    if mask is not None and not bool(mask.all()):
        inputs["attention_mask"] = mask
    return inputs


def token_outputs(logits: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    # logits (M, V), target (M,): mean loss plus the counts evaluation sums over batches.
    loss = F.cross_entropy(logits.float(), target)
    correct = (logits.argmax(-1) == target).sum()
    return {
        "loss": loss,
        "logits": logits,
        "n_tokens": target.new_tensor(target.numel()),
        "n_correct": correct,
    }


@dataclass
class MLMTask:
    """Args:
    model: a `*ForMaskedLM` model. Batches hold `labels` (B, T): the original id at masked
        positions, -100 elsewhere (see `data/masking.py`).
    """

    model: torch.nn.Module
    parts: tuple[Any, Any] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parts = lm_head_parts(self.model)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        labels = batch["labels"]
        selected = labels != IGNORE_INDEX  # (B, T)
        if self.parts is None:  # unknown architecture: full logits, then select
            logits = self.model(**model_inputs(batch)).logits[selected]
        else:
            base, head = self.parts
            hidden = base(**model_inputs(batch))[0]  # (B, T, H)
            logits = head(hidden[selected])  # (M, V)
        return token_outputs(logits, labels[selected])

    def new_metrics(self) -> LMMetrics:
        return LMMetrics()


class LMMetrics(StreamingMeans):
    """Streaming token-level metrics: mean loss, accuracy and perplexity over all tokens."""

    weight_key = "n_tokens"
    mean_keys = ("loss",)
    count_key = "tokens"

    def __init__(self) -> None:
        super().__init__()
        self.correct = 0  # counted exactly, not as a mean

    def update(self, outputs: dict[str, torch.Tensor]) -> None:
        super().update(outputs)
        self.correct += int(outputs["n_correct"])

    def compute(self) -> dict[str, Any]:
        loss = self.sums["loss"] / max(self.count, 1)
        return {
            "loss": loss,
            "accuracy": self.correct / max(self.count, 1),
            "perplexity": math.exp(min(loss, 50.0)),
            "tokens": self.count,
        }
