"""The fine-tuning schema: the text-classifier sections (`pretune config show finetune`)."""

from __future__ import annotations

from pretune.catalog.checks import check_loss, eval_metric_check
from pretune.catalog.common import CLASSIFY_METRICS, TRAINING_CHECKS
from pretune.config import (
    TECHNIQUES_FIELD,
    DataConfig,
    EvalConfig,
    ModelConfig,
    TrainConfig,
    compose,
)

__all__ = ["FinetuneConfig"]

FinetuneConfig = compose(
    "finetune",
    "Fine-tune a pre-trained encoder for text classification.",
    task_kind="classify",
    validators=[*TRAINING_CHECKS, check_loss, eval_metric_check(CLASSIFY_METRICS)],
    data=DataConfig,
    model=ModelConfig,
    train=TrainConfig,
    eval=EvalConfig,
    techniques=TECHNIQUES_FIELD,
)
