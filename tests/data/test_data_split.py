"""Stratified splits, label-set checks and train/test overlap."""

from __future__ import annotations

from collections import Counter

import datasets
import pytest

from pretune.data.sources import load_source
from pretune.data.split import check_label_sets, split_dataset, train_test_overlap
from pretune.errors import DataError


def labelled(n_per_label: dict[str, int]) -> datasets.Dataset:
    labels = [label for label, n in n_per_label.items() for _ in range(n)]
    texts = [f"text {i} {label}" for i, label in enumerate(labels)]
    return datasets.Dataset.from_dict({"text": texts, "label": labels})


def test_stratified_split_keeps_proportions_and_is_deterministic():
    ds = labelled({"a": 600, "b": 300, "c": 100})
    splits = split_dataset(ds, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert {k: len(v) for k, v in splits.items()} == {"train": 700, "validation": 100, "test": 200}
    assert Counter(splits["validation"]["label"]) == {"a": 60, "b": 30, "c": 10}
    assert Counter(splits["test"]["label"]) == {"a": 120, "b": 60, "c": 20}
    again = split_dataset(ds, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert again["test"]["text"] == splits["test"]["text"]
    other = split_dataset(ds, val_fraction=0.1, test_fraction=0.2, seed=4)
    assert other["test"]["text"] != splits["test"]["text"]
    all_texts = [t for part in splits.values() for t in part["text"]]
    assert sorted(all_texts) == sorted(ds["text"])


def test_bbc_split_sizes_and_stratification():
    ds = load_source("bbc")
    splits = split_dataset(ds, seed=0)
    sizes = {k: len(v) for k, v in splits.items()}
    assert sizes == {"train": 1780, "validation": 222, "test": 223}
    total = Counter(ds["label"])
    for name in ("validation", "test"):
        counts = Counter(splits[name]["label"])
        for label, n in total.items():
            assert abs(counts[label] - n * 0.1) <= 1, (name, label)


def test_zero_fractions_give_empty_splits():
    ds = labelled({"a": 10, "b": 10})
    splits = split_dataset(ds, val_fraction=0.0, test_fraction=0.2)
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (16, 0, 4)
    splits = split_dataset(ds, val_fraction=0.0, test_fraction=0.0)
    assert (len(splits["train"]), len(splits["validation"]), len(splits["test"])) == (20, 0, 0)
    assert splits["validation"].column_names == ["text", "label"]


def test_rare_label_falls_back_with_warning():
    ds = labelled({"a": 20, "b": 20, "lonely": 1})
    with pytest.warns(UserWarning, match="'lonely' have fewer than 2 rows"):
        splits = split_dataset(ds, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert sum(len(s) for s in splits.values()) == 41


def test_unstratified_split_has_no_warning(recwarn):
    ds = labelled({"a": 20, "lonely": 1})
    split_dataset(ds, stratify=False)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.6, 0.5), (1.0, 0.0)])
def test_bad_fractions(val, test):
    with pytest.raises(DataError, match=r"data\.(val|test)_fraction"):
        split_dataset(labelled({"a": 10}), val_fraction=val, test_fraction=test)


def test_check_label_sets_names_unseen_labels():
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["a", "b"], "label": ["x", "y"]}),
            "validation": datasets.Dataset.from_dict({"text": ["c"], "label": ["x"]}),
            "test": datasets.Dataset.from_dict(
                {"text": ["d", "e", "f", "g"], "label": ["sport", "sport", "sport", "y"]}
            ),
        }
    )
    with pytest.raises(DataError) as err:
        check_label_sets(splits, source_name="news.csv")
    assert str(err.value) == (
        "news.csv: test label 'sport' (3 rows) never appears in train; "
        "fix the label or add training examples"
    )
    splits["test"] = splits["validation"]
    check_label_sets(splits)  # no error once every label is known


def test_train_test_overlap_counts_normalised_matches():
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["Hello world", "other"]}),
            "validation": datasets.Dataset.from_dict({"text": ["hello   WORLD!", "new"]}),
            "test": datasets.Dataset.from_dict({"text": ["other", "Hello world", "x"]}),
        }
    )
    assert train_test_overlap(splits) == {"validation": 1, "test": 2}
