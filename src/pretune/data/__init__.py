"""Data stages: load a source, clean it, split it, balance it, inspect it."""

from __future__ import annotations

from pretune.data.balance import class_weights, imbalance_ratio, label_counts, resample
from pretune.data.clean import CleaningReport, CleaningStep, clean_dataset, normalize_text
from pretune.data.inspect import inspect_dataset, length_percentiles, render_inspection
from pretune.data.sources import BUILTINS, is_builtin, load_source
from pretune.data.split import check_label_sets, split_dataset, train_test_overlap

__all__ = [
    "BUILTINS",
    "CleaningReport",
    "CleaningStep",
    "check_label_sets",
    "class_weights",
    "clean_dataset",
    "imbalance_ratio",
    "inspect_dataset",
    "is_builtin",
    "label_counts",
    "length_percentiles",
    "load_source",
    "normalize_text",
    "render_inspection",
    "resample",
    "split_dataset",
    "train_test_overlap",
]
