"""What every transfer command computes and saves: scores, mean ± std over draws, summary.json
(its report.html is `pretune.report.transfer_page`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["aggregate", "draws_phrase", "scores"]


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (the headline numbers of every transfer method)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def aggregate(per_draw: Sequence[dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """{metric: {mean, std}} over draws (sample std). With a single draw `std` is None: one
    draw measures no spread, and 0.0 would claim the result does not vary with the draw."""
    out: dict[str, dict[str, float | None]] = {}
    for key in per_draw[0]:
        values = np.array([float(d[key]) for d in per_draw])
        std = round(float(values.std(ddof=1)), 4) if len(values) > 1 else None
        out[key] = {"mean": round(float(values.mean()), 4), "std": std}
    return out


def draws_phrase(count: int) -> str:
    """`1 draw`, `5 draws`."""
    return f"{count} draw{'' if count == 1 else 's'}"
