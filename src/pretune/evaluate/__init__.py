"""Evaluation: streaming metrics computed batch by batch."""

from pretune.evaluate.metrics import (
    IGNORE_INDEX,
    StreamingClassificationMetrics,
    accuracy,
    confusion_matrix_update,
    per_class_scores,
    precision_recall_f1,
)

__all__ = [
    "IGNORE_INDEX",
    "StreamingClassificationMetrics",
    "accuracy",
    "confusion_matrix_update",
    "per_class_scores",
    "precision_recall_f1",
]
