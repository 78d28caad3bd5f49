"""Causal language modelling: predict each next token; perplexity is exp(mean loss).

As in `mlm.py`, only the positions that carry a loss (not padding) go through the LM head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from pretune.data.masking import IGNORE_INDEX
from pretune.tasks.mlm import LMMetrics, lm_head_parts, model_inputs, token_outputs

__all__ = ["CLMTask"]


@dataclass
class CLMTask:
    """Args:
    model: a `*ForCausalLM` model. Batches hold `labels` (B, T): the input ids, -100 at
        padding; position t is trained to predict token t + 1.
    """

    model: torch.nn.Module
    parts: tuple[Any, Any] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.parts = lm_head_parts(self.model)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = batch["labels"][:, 1:]  # (B, T-1): the next token of each position
        selected = target != IGNORE_INDEX
        inputs = model_inputs(batch)
        inputs.pop("token_type_ids", None)
        if self.parts is None:
            logits = self.model(**inputs).logits[:, :-1][selected]
        else:
            base, head = self.parts
            hidden = base(**inputs)[0][:, :-1]  # (B, T-1, H)
            logits = head(hidden[selected])  # (M, V)
        return token_outputs(logits, target[selected])

    def new_metrics(self) -> LMMetrics:
        return LMMetrics()
