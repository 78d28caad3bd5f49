"""Human review round trip: export a sample, read labels back, score agreement."""

from __future__ import annotations

import csv

import pytest

from pretune.errors import DataError
from pretune.evaluate.human import export_review, human_agreement, read_review

TEXTS = [f"text number {i},\nwith a comma and a newline" for i in range(10)]
GIVEN = ["a", "b"] * 5
PREDICTED = ["a"] * 10


def _fill(path, labels):
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row, label in zip(rows, labels, strict=False):
        row["human_label"] = label
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_export_is_a_seeded_sample_without_given_labels(tmp_path):
    path = tmp_path / "review.csv"
    assert export_review(path, TEXTS, PREDICTED, [0.9] * 10, size=4, seed=3) == 4
    first = path.read_text(encoding="utf-8")
    export_review(path, TEXTS, PREDICTED, [0.9] * 10, size=4, seed=3)
    assert path.read_text(encoding="utf-8") == first
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert all(TEXTS[int(r["id"])] == r["text"] for r in rows)  # texts survive the CSV
    with pytest.raises(DataError, match=r"\.csv"):
        export_review(tmp_path / "r.xlsx", TEXTS, PREDICTED, [0.9] * 10)


def test_agreement_kappa_and_label_quality(tmp_path):
    path = tmp_path / "review.csv"
    export_review(path, TEXTS, PREDICTED, [0.9] * 10, size=10)
    with pytest.raises(DataError, match="no row has a human_label"):
        read_review(path)
    rows = _fill(path, ["a", "a", "b", "zzz"])  # 3 known labels, 1 unknown, 6 unreviewed
    got = human_agreement(read_review(path), TEXTS, GIVEN, PREDICTED, ["a", "b"], str(path))
    ids = [int(r["id"]) for r in rows[:3]]
    assert got["reviewed"] == 4 and got["unknown_human_labels"] == 1
    assert got["model_human_agreement"] == pytest.approx(2 / 3)
    assert got["model_accuracy_on_reviewed"] == pytest.approx(sum(GIVEN[i] == "a" for i in ids) / 3)
    assert got["human_vs_given_labels"] == pytest.approx(
        sum(GIVEN[i] == h for i, h in zip(ids, ["a", "a", "b"], strict=True)) / 3
    )


def test_a_review_of_other_data_is_refused(tmp_path):
    path = tmp_path / "review.csv"
    export_review(path, TEXTS, PREDICTED, [0.9] * 10, size=2)
    _fill(path, ["a", "b"])
    other = [t.upper() for t in TEXTS]
    with pytest.raises(DataError, match="does not match"):
        human_agreement(read_review(path), other, GIVEN, PREDICTED, ["a", "b"], str(path))
