"""Cleaning steps, their order and their report."""

from __future__ import annotations

import datasets
import pytest

from pretune.data.clean import CleaningReport, clean_dataset, normalize_text
from pretune.errors import DataError


def make(texts, labels=None):
    columns = {"text": texts}
    if labels is not None:
        columns["label"] = labels
    features = {k: datasets.Value("string") for k in columns}
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def removed(report: CleaningReport) -> dict[str, int]:
    return {step.name: step.removed for step in report.steps}


def test_normalize_text():
    assert normalize_text("  Great   FILM!!\n") == "great film"
    assert normalize_text('"Don\'t" stop.') == "don't\" stop"
    assert normalize_text("...") == ""


def test_report_counts_each_step_in_order():
    texts = [
        "Good movie",  # kept
        None,  # missing text
        "   ",  # empty text
        "no label here",  # missing label
        "Good movie",  # exact duplicate
        "good   movie!",  # normalised duplicate
        "ok",  # too short
        "x" * 50,  # too long
        "Bad movie",  # kept
    ]
    labels = ["pos", "pos", "neg", None, "pos", "pos", "pos", "neg", "neg"]
    cleaned, report = clean_dataset(make(texts, labels), min_chars=3, max_chars=20)
    assert removed(report) == {
        "missing or empty text": 2,
        "missing label": 1,
        "exact duplicates": 1,
        "normalized duplicates": 1,
        "too short": 1,
        "too long": 1,
    }
    assert cleaned["text"] == ["Good movie", "Bad movie"]
    assert (report.rows_in, report.rows_out) == (9, 2)
    assert report.steps[0].examples == ["<missing>", ""]
    assert report.steps[3].examples == ["good movie!"]  # whitespace collapsed for display
    assert report.steps[4].examples == ["ok"]
    assert report.summary_lines()[-1] == "kept 2 of 9 rows"
    assert report.to_dict()["steps"][2] == {
        "name": "exact duplicates",
        "removed": 1,
        "examples": ["Good movie"],
    }


def test_examples_are_shortened_and_capped_at_three():
    texts = ["a" * 200] * 5 + ["b"]
    _, report = clean_dataset(make(texts), has_label=False, dedupe="exact")
    step = report.steps[1]
    assert step.removed == 4 and len(step.examples) == 3
    assert all(len(e) <= 80 for e in step.examples)


def test_dedupe_modes():
    ds = make(["A b", "a b", "A b"], ["x", "x", "x"])
    assert clean_dataset(ds, dedupe="none")[0]["text"] == ["A b", "a b", "A b"]
    assert clean_dataset(ds, dedupe="exact")[0]["text"] == ["A b", "a b"]
    assert clean_dataset(ds, dedupe="normalized")[0]["text"] == ["A b"]
    assert "normalized duplicates" not in removed(clean_dataset(ds, dedupe="exact")[1])
    with pytest.raises(DataError, match=r"data\.dedupe='fuzzy' is not valid; use one of: none"):
        clean_dataset(ds, dedupe="fuzzy")


def test_nothing_removed_still_reports_every_step():
    cleaned, report = clean_dataset(make(["one", "two"], ["a", "b"]))
    assert len(cleaned) == 2
    assert removed(report) == dict.fromkeys(
        [
            "missing or empty text",
            "missing label",
            "exact duplicates",
            "normalized duplicates",
            "too short",
            "too long",
        ],
        0,
    )


def test_empty_result_names_the_step():
    with pytest.raises(DataError) as err:
        clean_dataset(make([None, " "], ["a", "b"]), source_name="train.csv")
    assert str(err.value) == (
        "no examples left in train.csv after cleaning: missing or empty text: 2"
    )


def test_dataset_without_text_only_checks_labels():
    ds = datasets.Dataset.from_dict({"pixels": [[0.0], [1.0], [2.0]], "label": ["1", None, "2"]})
    cleaned, report = clean_dataset(ds)
    assert len(cleaned) == 2
    assert removed(report) == {"missing label": 1}


def test_missing_label_column_is_a_data_error():
    with pytest.raises(DataError, match="has no 'label' column"):
        clean_dataset(make(["a"]))
