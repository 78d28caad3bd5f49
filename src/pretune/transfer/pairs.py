"""Training pairs for contrastive few-shot tuning (SetFit-style), linear in memory.

SetFit compares texts pairwise: same class -> similarity 1, different class -> 0. All n² pairs
grow quadratically (10k examples -> 10^8 pairs), so each example draws a fixed number of
partners instead: `per_example` positives and as many negatives. Memory and training time are
O(n · per_example), and every example and every class contributes equally.
"""

from __future__ import annotations

import numpy as np

from pretune.errors import DataError

__all__ = ["sample_pairs"]


def sample_pairs(labels: np.ndarray, per_example: int, seed: int) -> np.ndarray:
    """Rows (i, j, target) with `per_example` positive and `per_example` negative partners for
    each example i (target 1.0 for the same label, 0.0 otherwise), shuffled.

    Partners are drawn with replacement from the same (other) classes, never i itself. A class
    with one example has no positive partner: its positives are skipped (it still gets its
    negatives). Returns a float array of shape (P, 3), P <= 2 · n · per_example.
    """
    labels = np.asarray(labels)
    if per_example < 1:
        raise DataError(f"pairs per example must be >= 1, got {per_example}")
    if len(np.unique(labels)) < 2:
        raise DataError("contrastive pairs need at least two classes among the examples")
    rng = np.random.default_rng(seed)
    members = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    others = {c: np.flatnonzero(labels != c) for c in members}
    rows = []
    for i, c in enumerate(labels):
        same = members[c][members[c] != i]
        if len(same):
            pos = rng.choice(same, size=per_example, replace=True)
            rows.append(np.stack([np.full(per_example, i), pos, np.ones(per_example)], 1))
        neg = rng.choice(others[c], size=per_example, replace=True)
        rows.append(np.stack([np.full(per_example, i), neg, np.zeros(per_example)], 1))
    pairs = np.concatenate(rows).astype(np.float64)
    return pairs[rng.permutation(len(pairs))]
