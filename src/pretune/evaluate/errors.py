"""Error analysis of a classifier on a labelled split: where and how it goes wrong.

Every function takes the split's probabilities (N, K), its true label ids (N,) and, where texts
are shown, the texts; all are pure and return JSON-ready data (the ``summary["errors"]`` section).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "LENGTH_BUCKETS",
    "by_length",
    "confident_mistakes",
    "confused_pairs",
    "error_section",
    "per_class_error",
    "possible_label_errors",
]

TEXT_CHARS = 300
LENGTH_BUCKETS = (0, 64, 128, 256, 512)  # bucket edges in tokens; the last one is open


def _example(text: str, names: Sequence[str], label: int, pred: int, conf: float) -> dict:
    return {
        "text": text[:TEXT_CHARS],
        "label": names[label],
        "predicted": names[pred],
        "confidence": round(float(conf), 4),
    }


def confident_mistakes(
    probs: np.ndarray, labels: np.ndarray, texts: Sequence[str], names: Sequence[str], top: int = 20
) -> list[dict[str, Any]]:
    """The `top` wrong predictions with the highest confidence, most confident first."""
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-conf[wrong], kind="mergesort")][:top]
    return [_example(texts[i], names, labels[i], pred[i], conf[i]) for i in order]


def confused_pairs(cm: np.ndarray, names: Sequence[str], top: int = 10) -> list[dict[str, Any]]:
    """Off-diagonal cells of the confusion matrix, largest first (zero cells left out)."""
    cm = np.asarray(cm)
    pairs = [
        {"true": names[t], "predicted": names[p], "count": int(cm[t, p])}
        for t in range(cm.shape[0])
        for p in range(cm.shape[1])
        if t != p and cm[t, p] > 0
    ]
    return sorted(pairs, key=lambda d: -d["count"])[:top]


def per_class_error(cm: np.ndarray, names: Sequence[str]) -> dict[str, float | None]:
    """1 − recall of each class (None for a class with no examples)."""
    cm = np.asarray(cm)
    support = cm.sum(axis=1)
    return {
        name: (round(1.0 - cm[i, i] / support[i], 6) if support[i] else None)
        for i, name in enumerate(names)
    }


def by_length(
    probs: np.ndarray, labels: np.ndarray, lengths: Sequence[int], edges=LENGTH_BUCKETS
) -> list[dict[str, Any]]:
    """Accuracy per input-length bucket (tokens); empty buckets are left out."""
    lengths = np.asarray(lengths)
    correct = probs.argmax(axis=1) == labels
    rows = []
    for i, lo in enumerate(edges):
        hi = edges[i + 1] if i + 1 < len(edges) else None
        inside = (lengths >= lo) & (lengths < hi if hi is not None else True)
        if inside.any():
            rows.append(
                {
                    "bucket": f"{lo}-{hi}" if hi is not None else f"{lo}+",
                    "count": int(inside.sum()),
                    "accuracy": round(float(correct[inside].mean()), 6),
                }
            )
    return rows


def possible_label_errors(
    probs: np.ndarray, labels: np.ndarray, texts: Sequence[str], names: Sequence[str], top: int = 20
) -> list[dict[str, Any]]:
    """Examples whose given label the model confidently disputes (confident learning).

    Each class j gets a threshold t_j: the mean probability of j over the examples labelled j
    (how sure the model usually is about that class). An example is flagged when the given
    label's probability is below its threshold while another class reaches its own; the
    strongest disputes (largest p(predicted) − p(given)) come first.
    """
    k = probs.shape[1]
    thresholds = np.array(
        [probs[labels == j, j].mean() if (labels == j).any() else 1.0 for j in range(k)]
    )
    given = probs[np.arange(len(labels)), labels]
    rivals = probs >= thresholds[None, :]
    rivals[np.arange(len(labels)), labels] = False
    flagged = np.flatnonzero(rivals.any(axis=1) & (given < thresholds[labels]))
    pred = np.where(rivals, probs, -1.0).argmax(axis=1)
    margin = probs[flagged, pred[flagged]] - given[flagged]
    order = flagged[np.argsort(-margin, kind="mergesort")][:top]
    return [_example(texts[i], names, labels[i], pred[i], probs[i, pred[i]]) for i in order]


def error_section(
    probs: np.ndarray,
    labels: np.ndarray,
    texts: Sequence[str],
    lengths: Sequence[int],
    names: Sequence[str],
) -> dict[str, Any]:
    """The whole ``summary["errors"]`` section."""
    labels = np.asarray(labels, dtype=np.int64)
    k = len(names)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (labels, probs.argmax(axis=1)), 1)
    return {
        "confident_mistakes": confident_mistakes(probs, labels, texts, names),
        "confused_pairs": confused_pairs(cm, names),
        "per_class_error": per_class_error(cm, names),
        "by_length": by_length(probs, labels, lengths),
        "possible_label_errors": possible_label_errors(probs, labels, texts, names),
    }
