"""Label counts, class weights and over/under-sampling for imbalanced classification data."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence

import datasets

from pretune.errors import DataError

__all__ = ["RESAMPLE_STRATEGIES", "class_weights", "imbalance_ratio", "label_counts", "resample"]

RESAMPLE_STRATEGIES = ("none", "oversample", "undersample")


def label_counts(labels: Sequence[str]) -> dict[str, int]:
    """Count each label.

    Args:
        labels: One label per row.

    Returns:
        ``{label: count}`` sorted by label.
    """
    return dict(sorted(Counter(labels).items(), key=lambda kv: str(kv[0])))


def imbalance_ratio(counts: dict[str, int]) -> float:
    """Return the largest class count divided by the smallest (1.0 for balanced or no data).

    Args:
        counts: ``{label: count}``; labels with 0 rows make the ratio infinite.
    """
    if not counts:
        return 1.0
    smallest = min(counts.values())
    return float("inf") if smallest == 0 else max(counts.values()) / smallest


def class_weights(label_ids: Sequence[int], num_labels: int) -> list[float]:
    """Return "balanced" class weights ``n / (k * count_k)``, as sklearn's ``compute_class_weight``.

    ``k`` is the number of classes present, so the result matches sklearn on the classes it sees;
    a class with no rows gets weight 0.0 instead of a division by zero.

    Args:
        label_ids: Integer label of each row, in ``[0, num_labels)``.
        num_labels: Number of classes (length of the result).

    Returns:
        One weight per class id.

    Raises:
        DataError: For a label id outside ``[0, num_labels)``.
    """
    counts = Counter(int(i) for i in label_ids)
    outside = sorted(i for i in counts if not 0 <= i < num_labels)
    if outside:
        raise DataError(f"label ids {outside} are outside 0..{num_labels - 1}")
    n, present = len(label_ids), len(counts)
    return [n / (present * counts[c]) if counts[c] else 0.0 for c in range(num_labels)]


def resample(ds: datasets.Dataset, strategy: str, seed: int) -> datasets.Dataset:
    """Balance classes by repeating or dropping rows.

    Args:
        ds: Dataset with a ``"label"`` column.
        strategy: ``"none"`` (unchanged), ``"oversample"`` (draw minority rows with replacement
            until every class has the largest count) or ``"undersample"`` (keep a random subset
            of every class of the smallest count).
        seed: Random seed; the same seed gives the same rows.

    Returns:
        The resampled dataset: kept rows in source order, then any extra copies.

    Raises:
        DataError: For an unknown strategy or a dataset without labels.
    """
    if strategy not in RESAMPLE_STRATEGIES:
        raise DataError(
            f"data.resample={strategy!r} is not valid; use one of: {', '.join(RESAMPLE_STRATEGIES)}"
        )
    if strategy == "none" or len(ds) == 0:
        return ds
    if "label" not in ds.column_names:
        raise DataError(f"data.resample={strategy!r} needs a 'label' column")
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(ds["label"]):
        by_label[label].append(i)
    rng = random.Random(seed)
    groups = [by_label[label] for label in sorted(by_label, key=str)]
    if strategy == "oversample":
        target = max(map(len, groups))
        extra = [i for rows in groups for i in rng.choices(rows, k=target - len(rows))]
        return ds.select(sorted(i for rows in groups for i in rows) + extra)
    target = min(map(len, groups))
    return ds.select(sorted(i for rows in groups for i in rng.sample(rows, target)))
