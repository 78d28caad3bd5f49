"""What every transfer command computes and saves: scores, mean ± std over draws, summary.json
(its report.html is `pretune.report.transfer_page`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["aggregate", "scores"]


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (the headline numbers of every transfer method)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def aggregate(per_draw: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """{metric: {mean, std}} over draws (sample std; 0.0 for a single draw)."""
    out = {}
    for key in per_draw[0]:
        values = np.array([float(d[key]) for d in per_draw])
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out[key] = {"mean": round(float(values.mean()), 4), "std": round(std, 4)}
    return out
