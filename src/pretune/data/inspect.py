"""Describe a dataset before training: sizes, labels, lengths, duplicates and split overlap."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
from rich.console import Console
from rich.table import Table

from pretune.data.balance import imbalance_ratio, label_counts
from pretune.data.clean import normalize_text
from pretune.data.split import split_dataset, train_test_overlap

__all__ = ["inspect_dataset", "length_percentiles", "render_inspection"]

_TOKEN_BATCH = 1000


def length_percentiles(
    lengths: Sequence[int], qs: Sequence[int] = (50, 90, 95, 99)
) -> dict[str, float]:
    """Summarise lengths: min, max, mean and the given percentiles (keys ``p50``, ``p90``, ...).

    Args:
        lengths: One length per text.
        qs: Percentiles to report, in 0..100.

    Returns:
        ``{"min", "max", "mean", "p<q>"...}`` as floats; all 0.0 for no lengths.
    """
    keys = ["min", "max", "mean", *(f"p{q}" for q in qs)]
    if len(lengths) == 0:
        return dict.fromkeys(keys, 0.0)
    values = np.asarray(lengths, dtype=float)
    stats = {"min": values.min(), "max": values.max(), "mean": values.mean()}
    stats |= {f"p{q}": p for q, p in zip(qs, np.percentile(values, list(qs)), strict=True)}
    return {key: round(float(stats[key]), 2) for key in keys}


def inspect_dataset(
    ds: datasets.Dataset,
    *,
    tokenizer: Any = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    source_name: str = "data",
) -> dict[str, Any]:
    """Build a JSON-serialisable report on a (loaded, uncleaned) dataset.

    Args:
        ds: Dataset with ``"text"`` and optionally ``"label"``.
        tokenizer: Optional Hugging Face tokenizer; adds token-length percentiles
            (with special tokens, no truncation).
        val_fraction: Validation fraction for the overlap check.
        test_fraction: Test fraction for the overlap check.
        seed: Split seed for the overlap check.
        source_name: Name of the source shown in the report.

    Returns:
        A dict with ``source``, ``rows``, ``columns``, ``labels`` (counts, imbalance ratio),
        ``lengths`` (chars, words, tokens), ``empty``, ``duplicates`` and ``overlap``.
    """
    report: dict[str, Any] = {"source": source_name, "rows": len(ds), "columns": ds.column_names}
    labelled = "label" in ds.column_names
    if labelled:
        counts = label_counts([str(v) for v in ds["label"] if v not in (None, "")])
        ratio = imbalance_ratio(counts)
        report["labels"] = {
            "counts": counts,
            "num_labels": len(counts),
            "imbalance_ratio": round(ratio, 3) if counts else None,
            "missing": sum(1 for v in ds["label"] if v in (None, "")),
        }
    if "text" not in ds.column_names:
        return report

    texts = [t for t in ds["text"] if t is not None and t.strip()]
    report["empty"] = len(ds) - len(texts)
    report["lengths"] = {
        "chars": length_percentiles([len(t) for t in texts]),
        "words": length_percentiles([len(t.split()) for t in texts]),
    }
    if tokenizer is not None:
        report["lengths"]["tokens"] = length_percentiles(_token_lengths(tokenizer, texts))
    exact = Counter(texts)
    normalised = Counter(normalize_text(t) for t in texts)
    report["duplicates"] = {
        "exact": sum(c - 1 for c in exact.values()),
        "normalized": sum(c - 1 for c in normalised.values()),
    }
    report["overlap"] = _overlap(ds, val_fraction, test_fraction, seed)
    return report


def _token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    lengths: list[int] = []
    for start in range(0, len(texts), _TOKEN_BATCH):
        batch = texts[start : start + _TOKEN_BATCH]
        ids = tokenizer(batch, add_special_tokens=True, truncation=False)["input_ids"]
        lengths += [len(x) for x in ids]
    return lengths


def _overlap(
    ds: datasets.Dataset, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, int] | None:
    """Train/test overlap after the split a run would make; None when it cannot be split."""
    # Only rows with text: inspecting uncleaned data should not count blanks as overlap.
    clean = ds.select([i for i, t in enumerate(ds["text"]) if t is not None and t.strip()])
    if len(clean) < 3:
        return None
    # The split's own stratification warnings are noise in a report.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            splits = split_dataset(
                clean, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
            )
        except Exception:  # an unsplittable set is reported as None, not an inspect failure
            return None
    return train_test_overlap(splits)


def render_inspection(report: dict[str, Any], console: Console) -> None:
    """Print an `inspect_dataset` report as rich tables.

    Args:
        report: The report dict.
        console: Where to print.
    """
    overview = Table(title=f"Data: {report.get('source', 'data')}", show_header=False)
    overview.add_column("what")
    overview.add_column("value", justify="right")
    overview.add_row("rows", str(report["rows"]))
    overview.add_row("columns", ", ".join(report["columns"]))
    if "empty" in report:
        overview.add_row("empty or missing text", str(report["empty"]))
    if "duplicates" in report:
        overview.add_row("exact duplicates", str(report["duplicates"]["exact"]))
        overview.add_row("normalized duplicates", str(report["duplicates"]["normalized"]))
    if "overlap" in report:
        overlap = report["overlap"]
        shown = "n/a" if overlap is None else ", ".join(f"{k} {v}" for k, v in overlap.items())
        overview.add_row("texts also in train", shown)
    if "labels" in report:
        overview.add_row("missing labels", str(report["labels"]["missing"]))
        overview.add_row("imbalance ratio (max/min)", str(report["labels"]["imbalance_ratio"]))
    console.print(overview)

    if "labels" in report:
        labels = Table(title="Labels")
        labels.add_column("label")
        labels.add_column("rows", justify="right")
        labels.add_column("share", justify="right")
        total = sum(report["labels"]["counts"].values()) or 1
        for label, count in report["labels"]["counts"].items():
            labels.add_row(str(label), str(count), f"{count / total:.1%}")
        console.print(labels)

    if "lengths" in report:
        lengths = Table(title="Lengths")
        lengths.add_column("unit")
        keys = list(next(iter(report["lengths"].values())))
        for key in keys:
            lengths.add_column(key, justify="right")
        for unit, stats in report["lengths"].items():
            lengths.add_row(unit, *(f"{stats[k]:g}" for k in keys))
        console.print(lengths)
