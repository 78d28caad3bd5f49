"""Evaluation: the evaluator, analysis, calibration, robustness.

The streaming metrics it re-exports live in `pretune.metrics` (below tasks and evaluation).
"""

from pretune.metrics.classification import (
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
