"""Human evaluation: export a sample of predictions for people to label, then fold their
judgements back into the metrics.

    export_review(...)  ->  review.csv: id, text, predicted, confidence, human_label (empty)
    people fill in human_label (leave it empty to skip a row)
    read_review(...) + human_agreement(...)  ->  agreement, Cohen's kappa, accuracy on reviewed

The dataset's own label is deliberately not in the file, so reviewers judge the text unbiased.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pretune.errors import DataError

__all__ = ["REVIEW_COLUMNS", "export_review", "human_agreement", "read_review"]

REVIEW_COLUMNS = ("id", "text", "predicted", "confidence", "human_label")


def export_review(
    path: Path,
    texts: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    size: int = 100,
    seed: int = 0,
) -> int:
    """Write a random sample of `size` predictions (seeded) as a review CSV; returns the count.

    `id` is the row's position in the evaluated data, so the file can be matched back.
    """
    if path.suffix.lower() != ".csv":
        raise DataError(f"export={path}: the review file must be a .csv")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(texts), size=min(size, len(texts)), replace=False).tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REVIEW_COLUMNS)
        for i in chosen:
            writer.writerow([i, texts[i], predicted[i], f"{confidence[i]:.4f}", ""])
    tmp.replace(path)
    return len(chosen)


def read_review(path: Path) -> list[dict[str, str]]:
    """The reviewed rows (non-empty ``human_label``) of a review CSV."""
    if not path.is_file():
        raise DataError(f"human={path}: no such file; write one first with export={path}")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("id", "human_label") if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"human={path}: missing column(s) {', '.join(missing)}; use the file that "
                "export= wrote, with the human_label column filled in"
            )
        rows = [row for row in reader if (row.get("human_label") or "").strip()]
    if not rows:
        raise DataError(f"human={path}: no row has a human_label yet; fill some in first")
    return rows


def _kappa(a: Sequence[str], b: Sequence[str]) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(set(a) | set(b)) < 2:  # one label everywhere: kappa undefined, agreement is total
        return 1.0
    return float(cohen_kappa_score(a, b))


def human_agreement(
    rows: list[dict[str, str]],
    texts: Sequence[str],
    given: Sequence[str],
    predicted: Sequence[str],
    label_names: Sequence[str],
    source: str,
) -> dict[str, Any]:
    """Compare reviewers' labels with the model and with the data's own labels.

    Args:
        rows: reviewed rows from `read_review`.
        texts, given, predicted: the evaluated data's texts, labels and model predictions
            (the ids in `rows` index these).
        label_names: the model's labels (a human label outside them is counted, not scored).
        source: the review file, for messages.

    Returns:
        ``{"reviewed", "unknown_human_labels", "model_human_agreement", "kappa",
        "model_accuracy_on_reviewed", "human_vs_given_labels"}``.
    """
    known = set(label_names)
    human, model, data, unknown = [], [], [], 0
    for row in rows:
        try:
            i = int(row["id"])
        except ValueError:
            raise DataError(f"human={source}: id {row['id']!r} is not a row number") from None
        # Spreadsheets may re-wrap lines: compare texts with whitespace normalised.
        in_range = 0 <= i < len(texts)
        if not in_range or ("text" in row and row["text"].split() != texts[i].split()):
            raise DataError(
                f"human={source}: row id {i} does not match the evaluated data; review a file "
                "exported from the same run and data"
            )
        label = row["human_label"].strip()
        if label not in known:
            unknown += 1
            continue
        human.append(label)
        model.append(predicted[i])
        data.append(given[i])
    h, m, d = np.array(human), np.array(model), np.array(data)
    scored = len(human)
    return {
        "reviewed": len(rows),
        "unknown_human_labels": unknown,
        "model_human_agreement": float(np.mean(h == m)) if scored else None,
        "kappa": _kappa(human, model) if scored else None,
        "model_accuracy_on_reviewed": float(np.mean(m == d)) if scored else None,
        "human_vs_given_labels": float(np.mean(h == d)) if scored else None,
    }
