"""The fine-tuning schema: the text-classifier sections (`pretune config show finetune`)."""

from __future__ import annotations

from pretune.catalog.common import CLASSIFY_METRICS, training_schema

__all__ = ["FinetuneConfig"]

FinetuneConfig = training_schema(
    "finetune",
    "Fine-tune a text classifier.",
    task_kind="classify",
    metrics=CLASSIFY_METRICS,
)
