"""Stratified, seeded train/validation/test splits and the checks that run on them."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

import datasets
from sklearn.model_selection import train_test_split

from pretune.data.clean import normalize_text
from pretune.errors import DataError

__all__ = ["SPLITS", "check_label_sets", "split_dataset", "train_test_overlap"]

SPLITS = ("train", "validation", "test")


def split_dataset(
    ds: datasets.Dataset,
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    stratify: bool = True,
) -> datasets.DatasetDict:
    """Split into train/validation/test, stratified on ``"label"`` when possible.

    Uses sklearn's ``train_test_split`` twice: first val+test is carved off, then it is split in
    two. A label too rare to stratify makes that stage unstratified, with a warning naming it.
    Rows keep their source order inside each split.

    Args:
        ds: Dataset, optionally with a ``"label"`` column.
        val_fraction: Fraction of rows for validation (0 gives an empty validation split).
        test_fraction: Fraction of rows for test (0 gives an empty test split).
        seed: Random seed; the same seed gives the same split.
        stratify: Keep label proportions in each split.

    Returns:
        A DatasetDict with keys ``train``, ``validation`` and ``test``.

    Raises:
        DataError: For fractions outside [0, 1) or too few rows to split.
    """
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise DataError(f"data.{key}={value} must be in [0, 1)")
    holdout = val_fraction + test_fraction
    if holdout >= 1.0:
        raise DataError(
            f"data.val_fraction + data.test_fraction = {holdout:g} leaves no training rows; "
            "make their sum smaller than 1"
        )
    # `[:]` materialises a list: `ds[col]` is a lazy Column whose item access reads Arrow each time.
    labels = ds["label"][:] if stratify and "label" in ds.column_names else None
    indices = list(range(len(ds)))
    n_holdout = _count(holdout, len(indices))
    if n_holdout >= len(indices) and n_holdout > 0:
        raise DataError(
            f"only {len(ds)} rows: too few to hold out {holdout:g} for validation and test; "
            "add data or lower data.val_fraction/data.test_fraction"
        )
    train, rest = _split(indices, labels, n_holdout, seed, "train vs validation+test")
    n_test = _count(test_fraction / holdout, len(rest)) if holdout > 0 else 0
    rest_labels = [labels[i] for i in rest] if labels is not None else None
    val, test = _split(rest, rest_labels, n_test, seed, "validation vs test")
    return datasets.DatasetDict(
        {
            name: ds.select(sorted(part))
            for name, part in zip(SPLITS, (train, val, test), strict=True)
        }
    )


def _count(fraction: float, n: int) -> int:
    # sklearn rounds the test side up; rounding first stops 0.2 * 2225 = 445.00000000000006
    # from becoming 446.
    return math.ceil(round(fraction * n, 9))


def _split(
    indices: list[int], labels: Sequence[str] | None, n_second: int, seed: int, stage: str
) -> tuple[list[int], list[int]]:
    """Split ``indices`` into (first, second) with ``n_second`` rows in the second part."""
    if n_second <= 0:
        return list(indices), []
    if n_second >= len(indices):
        return [], list(indices)
    if labels is not None:
        counts = Counter(labels)
        rare = sorted(str(label) for label, c in counts.items() if c < 2)
        if rare:
            _warn(stage, f"label(s) {', '.join(map(repr, rare))} have fewer than 2 rows")
        else:
            try:
                first, second = train_test_split(
                    indices, test_size=n_second, random_state=seed, stratify=list(labels)
                )
                return list(first), list(second)
            except ValueError as exc:  # e.g. fewer rows in a part than there are labels
                _warn(stage, str(exc).rstrip("."))
    first, second = train_test_split(indices, test_size=n_second, random_state=seed)
    return list(first), list(second)


def _warn(stage: str, reason: str) -> None:
    warnings.warn(
        f"cannot stratify the {stage} split: {reason}; splitting without stratification",
        stacklevel=3,
    )


def check_label_sets(splits: datasets.DatasetDict, source_name: str = "data") -> None:
    """Refuse validation/test labels that never appear in train.

    Args:
        splits: The splits; only those with a ``"label"`` column are checked.
        source_name: Name of the source, used in the error message.

    Raises:
        DataError: Naming each unseen label and its row count.
    """
    if "train" not in splits or "label" not in splits["train"].column_names:
        return
    known = set(splits["train"]["label"])
    problems = []
    for name in ("validation", "test"):
        if name not in splits or "label" not in splits[name].column_names:
            continue
        unseen = Counter(label for label in splits[name]["label"] if label not in known)
        problems += [
            f"{name} label {label!r} ({count} row{'s' if count != 1 else ''})"
            for label, count in sorted(unseen.items(), key=lambda kv: str(kv[0]))
        ]
    if problems:
        verb = "appears" if len(problems) == 1 else "appear"
        raise DataError(
            f"{source_name}: {'; '.join(problems)} never {verb} in train; "
            "fix the label or add training examples"
        )


def train_test_overlap(splits: datasets.DatasetDict) -> dict[str, int]:
    """Count validation/test rows whose normalised text also appears in train.

    Args:
        splits: The splits; without a ``"text"`` column every count is 0.

    Returns:
        ``{"validation": n, "test": n}`` for the splits present.
    """
    if "train" not in splits or "text" not in splits["train"].column_names:
        return {name: 0 for name in ("validation", "test") if name in splits}
    seen = {normalize_text(t) for t in splits["train"]["text"] if t}
    return {
        name: sum(1 for t in splits[name]["text"] if t and normalize_text(t) in seen)
        for name in ("validation", "test")
        if name in splits
    }
