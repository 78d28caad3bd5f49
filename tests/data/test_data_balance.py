"""Label counts, class weights and resampling."""

from __future__ import annotations

from collections import Counter

import datasets
import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from pretune.data.balance import class_weights, imbalance_ratio, label_counts, resample
from pretune.errors import DataError


def test_label_counts_sorted_and_ratio():
    counts = label_counts(["b", "a", "b", "c", "b", "a"])
    assert list(counts.items()) == [("a", 2), ("b", 3), ("c", 1)]
    assert imbalance_ratio(counts) == 3.0
    assert imbalance_ratio({}) == 1.0


def test_class_weights_match_sklearn():
    ids = [0] * 50 + [1] * 30 + [2] * 7 + [3]
    expected = compute_class_weight("balanced", classes=np.arange(4), y=np.array(ids))
    assert class_weights(ids, 4) == pytest.approx(expected.tolist())


def test_class_weights_absent_class_gets_zero():
    ids = [0, 0, 0, 2]
    present = compute_class_weight("balanced", classes=np.array([0, 2]), y=np.array(ids))
    assert class_weights(ids, 3) == pytest.approx([present[0], 0.0, present[1]])
    with pytest.raises(DataError, match=r"label ids \[5\] are outside 0..2"):
        class_weights([0, 5], 3)


def ds_with(counts: dict[str, int]) -> datasets.Dataset:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return datasets.Dataset.from_dict(
        {"text": [str(i) for i in range(len(labels))], "label": labels}
    )


def test_oversample_reaches_max_count_deterministically():
    ds = ds_with({"a": 10, "b": 3, "c": 1})
    out = resample(ds, "oversample", seed=1)
    assert Counter(out["label"]) == {"a": 10, "b": 10, "c": 10}
    assert out["text"][:14] == ds["text"]  # every original row kept, in order
    assert resample(ds, "oversample", seed=1)["text"] == out["text"]
    assert resample(ds, "oversample", seed=2)["text"] != out["text"]


def test_undersample_keeps_min_count():
    ds = ds_with({"a": 10, "b": 3, "c": 5})
    out = resample(ds, "undersample", seed=0)
    assert Counter(out["label"]) == {"a": 3, "b": 3, "c": 3}
    assert len(set(out["text"])) == 9
    assert resample(ds, "undersample", seed=0)["text"] == out["text"]


def test_resample_none_and_unknown():
    ds = ds_with({"a": 2, "b": 1})
    assert resample(ds, "none", seed=0) is ds
    with pytest.raises(DataError, match="use one of: none, oversample, undersample"):
        resample(ds, "smote", seed=0)
