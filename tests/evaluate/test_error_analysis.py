"""Error analysis tables on hand-made predictions."""

from __future__ import annotations

import numpy as np

from pretune.evaluate.errors import (
    by_length,
    confident_mistakes,
    confused_pairs,
    error_section,
    per_class_error,
    possible_label_errors,
)

NAMES = ["a", "b", "c"]
PROBS = np.array(
    [
        [0.90, 0.05, 0.05],  # a, right
        [0.80, 0.10, 0.10],  # a, right
        [0.10, 0.85, 0.05],  # b, right
        [0.97, 0.02, 0.01],  # labelled b, very sure it is a: a label error?
        [0.40, 0.35, 0.25],  # labelled c, unsure mistake
        [0.10, 0.10, 0.80],  # c, right
    ]
)
LABELS = np.array([0, 0, 1, 1, 2, 2])
TEXTS = [f"text {i} " + "x" * 400 for i in range(6)]


def test_confident_mistakes_are_sorted_and_cut():
    rows = confident_mistakes(PROBS, LABELS, TEXTS, NAMES)
    assert [r["label"] for r in rows] == ["b", "c"]
    assert rows[0] == {"text": TEXTS[3][:300], "label": "b", "predicted": "a", "confidence": 0.97}
    assert confident_mistakes(PROBS, LABELS, TEXTS, NAMES, top=1) == rows[:1]


def test_confused_pairs_and_per_class_error():
    cm = np.array([[5, 1, 0], [3, 7, 0], [0, 0, 0]])
    assert confused_pairs(cm, NAMES) == [
        {"true": "b", "predicted": "a", "count": 3},
        {"true": "a", "predicted": "b", "count": 1},
    ]
    assert per_class_error(cm, NAMES) == {"a": round(1 / 6, 6), "b": 0.3, "c": None}


def test_by_length_buckets():
    rows = by_length(PROBS, LABELS, [10, 20, 70, 70, 300, 600])
    assert rows == [
        {"bucket": "0-64", "count": 2, "accuracy": 1.0},
        {"bucket": "64-128", "count": 2, "accuracy": 0.5},
        {"bucket": "256-512", "count": 1, "accuracy": 0.0},
        {"bucket": "512+", "count": 1, "accuracy": 1.0},
    ]


def test_possible_label_errors_flag_confident_disputes_only():
    rows = possible_label_errors(PROBS, LABELS, TEXTS, NAMES)
    # Row 3 (labelled b, a at 0.97 >= a's usual 0.85) is flagged; the unsure row 4 is not
    # (0.40 is below a's threshold), nor any correct row.
    assert [(r["label"], r["predicted"]) for r in rows] == [("b", "a")]
    assert rows[0]["confidence"] == 0.97


def test_error_section_has_every_table():
    section = error_section(PROBS, LABELS, TEXTS, [5] * 6, NAMES)
    assert set(section) == {
        "confident_mistakes",
        "confused_pairs",
        "per_class_error",
        "by_length",
        "possible_label_errors",
    }
    assert section["confused_pairs"] == [
        {"true": "b", "predicted": "a", "count": 1},
        {"true": "c", "predicted": "a", "count": 1},
    ]
