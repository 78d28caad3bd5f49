"""Streaming classification metrics.

Metrics are accumulated batch by batch into a K×K confusion matrix plus a summed cross-entropy,
so memory stays O(K²) however many examples are evaluated; all logits are never held at once.
Every score is a pure function of the confusion matrix and matches scikit-learn with
``zero_division=0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "IGNORE_INDEX",
    "StreamingClassificationMetrics",
    "accuracy",
    "confusion_matrix_update",
    "per_class_scores",
    "precision_recall_f1",
]

IGNORE_INDEX = -100
_AVERAGES = ("macro", "micro", "weighted")


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def confusion_matrix_update(cm: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Add a batch of (true, predicted) labels to a confusion matrix, in place.

    Args:
        cm: K×K int64 matrix; rows are true labels, columns predicted labels.
        y_true: True labels in ``[0, K)``, any shape.
        y_pred: Predicted labels in ``[0, K)``, same number of elements as ``y_true``.

    Returns:
        ``cm`` (updated in place).

    Raises:
        ValueError: If shapes disagree or a label is outside ``[0, K)``.
    """
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    k = cm.shape[0]
    t = np.asarray(y_true).reshape(-1).astype(np.int64, copy=False)
    p = np.asarray(y_pred).reshape(-1).astype(np.int64, copy=False)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if t.size == 0:
        return cm
    for name, arr in (("y_true", t), ("y_pred", p)):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= k:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} contains label {bad}, outside [0, {k}) for {k} labels")
    cm += np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(cm.dtype, copy=False)
    return cm


def accuracy(cm: np.ndarray) -> float:
    """Fraction of examples on the diagonal; 0.0 for an empty matrix."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def per_class_scores(cm: np.ndarray) -> dict[str, list[float] | list[int]]:
    """Per-class precision, recall, F1 and support (zero division gives 0.0).

    Args:
        cm: K×K confusion matrix (rows true, columns predicted).

    Returns:
        ``{"precision": [...], "recall": [...], "f1": [...], "support": [...]}``, one entry
        per class.
    """
    precision, recall, f1, support = _per_class_arrays(cm)
    return {
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": [int(s) for s in support],
    }


def _per_class_arrays(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cm = np.asarray(cm, dtype=np.int64)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2.0 * tp, predicted + support)
    return precision, recall, f1, support


def precision_recall_f1(cm: np.ndarray, average: str) -> tuple[float, float, float]:
    """Averaged precision, recall and F1 from a confusion matrix.

    Like scikit-learn with ``zero_division=0`` and no explicit ``labels``: ``"macro"``
    averages over the classes that occur in the true or predicted labels (a class absent from
    both does not pull the mean down), ``"weighted"`` weights classes by support, and
    ``"micro"`` pools all decisions (equal to accuracy for single-label classification).

    Args:
        cm: K×K confusion matrix (rows true, columns predicted).
        average: ``"macro"``, ``"micro"`` or ``"weighted"``.

    Returns:
        ``(precision, recall, f1)``.

    Raises:
        ValueError: For an unknown ``average``.
    """
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {', '.join(_AVERAGES)}; got {average!r}")
    precision, recall, f1, support = _per_class_arrays(cm)
    predicted = np.asarray(cm).sum(axis=0)
    if average == "micro":
        tp = float(np.trace(cm))
        p = float(_safe_div(tp, predicted.sum()))
        r = float(_safe_div(tp, support.sum()))
        f = float(_safe_div(2.0 * tp, predicted.sum() + support.sum()))
        return p, r, f
    if average == "macro":
        present = (support > 0) | (predicted > 0)
        if not present.any():
            return 0.0, 0.0, 0.0
        return (
            float(precision[present].mean()),
            float(recall[present].mean()),
            float(f1[present].mean()),
        )
    total = support.sum()
    if total == 0:
        return 0.0, 0.0, 0.0
    weights = support / total
    return (
        float(np.dot(precision, weights)),
        float(np.dot(recall, weights)),
        float(np.dot(f1, weights)),
    )


class StreamingClassificationMetrics:
    """Accumulate classification metrics batch by batch in O(K²) memory.

    Labels equal to ``-100`` (padding / unknown) are ignored. Logits may have any leading
    shape ``(..., K)`` with labels of shape ``(...)`` (e.g. token classification).

    Example:
        >>> m = StreamingClassificationMetrics(num_labels=3)
        >>> for logits, labels in batches:  # doctest: +SKIP
        ...     m.update(logits, labels)
        >>> m.compute(["neg", "neu", "pos"])["macro_f1"]  # doctest: +SKIP

    Args:
        num_labels: Number of classes K (at least 1).
    """

    def __init__(self, num_labels: int) -> None:
        if num_labels < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        self.num_labels = int(num_labels)
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self.confusion = np.zeros((self.num_labels, self.num_labels), dtype=np.int64)
        self.loss_sum = 0.0
        self.count = 0

    def update(self, logits: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> None:
        """Add one batch.

        The cross-entropy is computed in float64 with ``log_softmax`` on the logits' device;
        only the per-batch predictions and a scalar loss are moved to the CPU.

        Args:
            logits: Unnormalized scores, shape ``(..., K)``.
            labels: Class indices, shape ``(...)``; ``-100`` entries are skipped.

        Raises:
            ValueError: If shapes disagree or a label is outside ``[0, K)``.
        """
        k = self.num_labels
        logits_t = torch.as_tensor(logits).detach()
        if logits_t.device.type == "mps":  # no float64 on MPS
            logits_t = logits_t.cpu()
        labels_t = torch.as_tensor(labels, device=logits_t.device).detach().long()
        if logits_t.ndim < 1 or logits_t.shape[-1] != k:
            raise ValueError(
                f"logits must have shape (..., {k}) for {k} labels, got {tuple(logits_t.shape)}"
            )
        logits_t = logits_t.reshape(-1, k)
        labels_t = labels_t.reshape(-1)
        if logits_t.shape[0] != labels_t.shape[0]:
            raise ValueError(
                f"got {logits_t.shape[0]} rows of logits but {labels_t.shape[0]} labels"
            )
        keep = labels_t != IGNORE_INDEX
        logits_t = logits_t[keep]
        labels_t = labels_t[keep]
        n = int(labels_t.shape[0])
        if n == 0:
            return
        lo, hi = int(labels_t.min()), int(labels_t.max())
        if lo < 0 or hi >= k:
            bad = lo if lo < 0 else hi
            raise ValueError(f"label {bad} is outside [0, {k}) for {k} labels")
        log_probs = torch.log_softmax(logits_t.to(torch.float64), dim=-1)
        nll = -log_probs.gather(1, labels_t.unsqueeze(1)).sum()
        preds = logits_t.argmax(dim=-1)
        confusion_matrix_update(self.confusion, labels_t.cpu().numpy(), preds.cpu().numpy())
        self.loss_sum += float(nll.item())
        self.count += n

    def compute(self, label_names: Sequence[str] | None = None) -> dict[str, Any]:
        """Compute all metrics from what was accumulated.

        Args:
            label_names: Names of the K classes, used as keys of ``per_class``; defaults to
                ``"0"``, ``"1"``, ...

        Returns:
            ``{"accuracy", "macro_f1", "micro_f1", "weighted_f1", "macro_precision",
            "macro_recall", "loss", "confusion_matrix", "per_class", "count"}``, where
            ``loss`` is the mean cross-entropy (NaN when nothing was counted),
            ``confusion_matrix`` a list of lists (rows true, columns predicted) and
            ``per_class`` maps each name to ``{"precision", "recall", "f1", "support"}``.

        Raises:
            ValueError: If ``label_names`` does not have K entries.
        """
        k = self.num_labels
        names = [str(i) for i in range(k)] if label_names is None else list(label_names)
        if len(names) != k:
            raise ValueError(f"got {len(names)} label names for {k} labels")
        cm = self.confusion
        macro_p, macro_r, macro_f1 = precision_recall_f1(cm, "macro")
        _, _, micro_f1 = precision_recall_f1(cm, "micro")
        _, _, weighted_f1 = precision_recall_f1(cm, "weighted")
        scores = per_class_scores(cm)
        per_class = {
            name: {
                "precision": scores["precision"][i],
                "recall": scores["recall"][i],
                "f1": scores["f1"][i],
                "support": scores["support"][i],
            }
            for i, name in enumerate(names)
        }
        return {
            "accuracy": accuracy(cm),
            "macro_f1": macro_f1,
            "micro_f1": micro_f1,
            "weighted_f1": weighted_f1,
            "macro_precision": macro_p,
            "macro_recall": macro_r,
            "loss": self.loss_sum / self.count if self.count else math.nan,
            "confusion_matrix": cm.tolist(),
            "per_class": per_class,
            "count": self.count,
        }
