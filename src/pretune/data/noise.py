"""Label noise on purpose: flip a share of labels, to test how a loss copes with bad labels."""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["flip_labels"]


def flip_labels(
    labels: Sequence[str], rate: float, label_names: Sequence[str], seed: int = 0
) -> tuple[list[str], list[int]]:
    """Symmetric label noise: exactly round(rate * n) rows get a different label, uniformly.

    Returns:
        (noisy labels, indices of the flipped rows).

    Raises:
        ValueError: rate outside [0, 1] or fewer than two label names.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if len(set(label_names)) < 2:
        raise ValueError("label noise needs at least two label names")
    rng = random.Random(seed)
    flipped = sorted(rng.sample(range(len(labels)), round(rate * len(labels))))
    noisy = list(labels)
    for i in flipped:
        noisy[i] = rng.choice([name for name in label_names if name != labels[i]])
    return noisy, flipped
