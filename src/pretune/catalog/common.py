"""What several recipe schemas share: the checks every training recipe runs, and the
evaluation sections of the task families."""

from __future__ import annotations

from pydantic import Field

from pretune.catalog.checks import check_techniques, check_training
from pretune.config import EvalConfig, check_validation_for_early_stopping, narrow

__all__ = [
    "CLASSIFY_METRICS",
    "LM_METRICS",
    "TRAINING_CHECKS",
    "ClassifyEvalConfig",
    "LMEvalConfig",
]

# Every recipe that trains through the session: optimizer/schedule names, techniques that
# apply to its task, and early stopping only with a validation split.
TRAINING_CHECKS = (check_training, check_techniques, check_validation_for_early_stopping)

CLASSIFY_METRICS = (
    "accuracy", "macro_f1", "micro_f1", "weighted_f1", "macro_precision", "macro_recall", "loss",
)  # fmt: skip
LM_METRICS = ("loss", "accuracy", "perplexity")

ClassifyEvalConfig = EvalConfig

LMEvalConfig = narrow(
    EvalConfig,
    "LMEvalConfig",
    replace={
        "metric": (
            str,
            Field(
                "loss",
                description="Validation metric that picks the best weights: loss, accuracy "
                "(next/masked-token) or perplexity.",
            ),
        )
    },
)
