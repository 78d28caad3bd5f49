"""Score-based metrics (ROC-AUC, PR-AUC, log-loss, top-k), Matthews correlation and regression
metrics, as small pure functions that match scikit-learn on the same predictions.

Ranking metrics need every example's class probabilities, so `ProbabilityCollector` keeps an
N×K float32 array of *probabilities* (4·N·K bytes: 20 MB for a million examples and 5 classes),
never hidden states or vocabulary-sized logits. Everything else streams in O(K²) or O(1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "ProbabilityCollector",
    "StreamingRegressionMetrics",
    "average_precision",
    "binary_curve",
    "log_loss",
    "matthews_corrcoef",
    "mean_absolute_error",
    "mean_squared_error",
    "one_vs_rest",
    "pr_curve",
    "r2_score",
    "roc_auc",
    "roc_curve",
    "score_metrics",
    "top_k_accuracy",
]


def binary_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative (false positives, true positives, thresholds) at each distinct score.

    Args:
        y_true: 0/1 (or bool) labels, shape (N,).
        scores: Scores, higher meaning more likely positive, shape (N,).

    Returns:
        ``(fps, tps, thresholds)``, thresholds decreasing (ties form one threshold).
    """
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # The last index of each run of equal scores: a threshold counts all tied examples at once.
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    tps = np.cumsum(y)[last].astype(np.float64)
    fps = (last + 1) - tps
    return fps, tps, s[last]


def roc_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate), starting at (0, 0); NaN rates if a class
    is missing."""
    fps, tps, _ = binary_curve(y_true, scores)
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    with np.errstate(invalid="ignore", divide="ignore"):
        return fps / fps[-1], tps / tps[-1]


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (trapezoids, like sklearn); None without both classes."""
    y = np.asarray(y_true).astype(bool)
    if y.all() or not y.any():
        return None
    fpr, tpr = roc_curve(y, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # trapezoids, numpy 1 and 2


def pr_curve(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at each distinct threshold, recall decreasing and ending at (1, 0),
    like sklearn's ``precision_recall_curve``."""
    fps, tps, _ = binary_curve(y_true, scores)
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the precision-recall curve as sklearn's ``average_precision_score``:
    sum of (R_n - R_{n-1}) P_n. None when there is no positive example."""
    y = np.asarray(y_true).astype(bool)
    if not y.any():
        return None
    precision, recall = pr_curve(y, scores)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def one_vs_rest(
    labels: np.ndarray, probs: np.ndarray, metric: str
) -> tuple[float | None, list[float | None]]:
    """Macro average of a binary metric ("roc_auc" or "average_precision"), each class against
    the rest; classes where it is undefined (absent from `labels`) are left out of the mean.

    Returns:
        ``(macro, per_class)``; macro is None when no class has a defined score.
    """
    fn = {"roc_auc": roc_auc, "average_precision": average_precision}[metric]
    labels = np.asarray(labels)
    per_class = [fn(labels == k, probs[:, k]) for k in range(probs.shape[1])]
    defined = [v for v in per_class if v is not None]
    return (float(np.mean(defined)) if defined else None), per_class


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-probability of the true class (probabilities clipped at `eps`)."""
    p = np.asarray(probs, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)  # float32 rows may sum to 1 ± 1e-7
    true = p[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]
    return float(-np.mean(np.log(np.clip(true, eps, 1.0))))


def top_k_accuracy(labels: np.ndarray, probs: np.ndarray, k: int = 2) -> float:
    """Share of examples whose true class is among the `k` highest probabilities."""
    k = min(k, probs.shape[1])
    # Ties go to the higher class id, as in sklearn.
    top = np.argsort(np.asarray(probs), axis=1, kind="mergesort")[:, ::-1][:, :k]
    return float(np.mean(np.any(top == np.asarray(labels)[:, None], axis=1)))


def matthews_corrcoef(cm: np.ndarray) -> float:
    """Multi-class Matthews correlation from a K×K confusion matrix (0.0 when undefined)."""
    c = np.asarray(cm, dtype=np.float64)
    t_sum, p_sum = c.sum(axis=1), c.sum(axis=0)
    n = c.sum()
    cov_tp = np.trace(c) * n - t_sum @ p_sum
    cov_pp = n * n - p_sum @ p_sum
    cov_tt = n * n - t_sum @ t_sum
    if cov_pp * cov_tt == 0:
        return 0.0
    return float(cov_tp / np.sqrt(cov_tt * cov_pp))


def score_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float | None]:
    """The ``summary["test"]`` extras: roc_auc_macro, pr_auc_macro, log_loss, top2_accuracy,
    mcc (from the argmax predictions)."""
    labels = np.asarray(labels, dtype=np.int64)
    k = probs.shape[1]
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (labels, probs.argmax(axis=1)), 1)
    # Binary: sklearn scores the positive class only.
    binary = roc_auc(labels == 1, probs[:, 1]) if k == 2 else None
    roc = binary if k == 2 else one_vs_rest(labels, probs, "roc_auc")[0]
    return {
        "roc_auc_macro": roc,
        "pr_auc_macro": one_vs_rest(labels, probs, "average_precision")[0],
        "log_loss": log_loss(labels, probs),
        "top2_accuracy": top_k_accuracy(labels, probs, 2),
        "mcc": matthews_corrcoef(cm),
    }


class ProbabilityCollector:
    """Gather class probabilities batch by batch into an N×K float32 array, in row order.

    It holds probabilities only (N·K floats), never hidden states or vocabulary logits; the
    ranking metrics (ROC-AUC, PR-AUC) need all of them at once.

    Args:
        num_rows: N, the number of rows that will be added.
        num_labels: K.
    """

    def __init__(self, num_rows: int, num_labels: int) -> None:
        self.probs = np.zeros((num_rows, num_labels), dtype=np.float32)
        self.seen = np.zeros(num_rows, dtype=bool)

    def update(self, indices: Sequence[int], probs: torch.Tensor | np.ndarray) -> None:
        """Store the (B, K) probabilities of rows `indices`."""
        self.probs[list(indices)] = torch.as_tensor(probs).float().cpu().numpy()
        self.seen[list(indices)] = True

    def result(self) -> np.ndarray:
        """The N×K array; raises ValueError if some rows were never added."""
        if not self.seen.all():
            raise ValueError(f"{int((~self.seen).sum())} rows have no probabilities")
        return self.probs


def mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean of squared errors."""
    d = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(d * d))


def mean_absolute_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean of absolute errors."""
    d = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(np.abs(d)))


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination; like sklearn, 1.0 (perfect) or 0.0 for constant targets."""
    y = np.asarray(y_true, dtype=np.float64)
    sse = float(np.sum((y - np.asarray(y_pred, dtype=np.float64)) ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    if sst == 0:
        return 1.0 if sse == 0 else 0.0
    return 1.0 - sse / sst


class StreamingRegressionMetrics:
    """MSE, MAE and R² accumulated batch by batch in O(1) memory (sums in float64)."""

    def __init__(self) -> None:
        self.n = 0
        self.sum_sq = self.sum_abs = self.sum_y = self.sum_y2 = 0.0

    def update(self, preds: torch.Tensor | np.ndarray, targets: torch.Tensor | np.ndarray) -> None:
        """Add one batch of predictions and targets (any shape, same number of elements)."""
        p = torch.as_tensor(preds).detach().double().reshape(-1).cpu()
        y = torch.as_tensor(targets).detach().double().reshape(-1).cpu()
        if p.shape != y.shape:
            raise ValueError(f"got {p.numel()} predictions for {y.numel()} targets")
        d = y - p
        self.n += int(y.numel())
        self.sum_sq += float((d * d).sum())
        self.sum_abs += float(d.abs().sum())
        self.sum_y += float(y.sum())
        self.sum_y2 += float((y * y).sum())

    def compute(self) -> dict[str, float]:
        """``{"mse", "mae", "r2", "count"}`` (NaN when nothing was added)."""
        if self.n == 0:
            return {"mse": float("nan"), "mae": float("nan"), "r2": float("nan"), "count": 0}
        sst = self.sum_y2 - self.sum_y**2 / self.n
        if sst <= 1e-12 * max(1.0, self.sum_y2):
            r2 = 1.0 if self.sum_sq == 0 else 0.0
        else:
            r2 = 1.0 - self.sum_sq / sst
        n = self.n
        return {"mse": self.sum_sq / n, "mae": self.sum_abs / n, "r2": r2, "count": n}
