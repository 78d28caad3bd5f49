"""A run says when its numbers mean little: too few rows to measure on, or a headline metric at
its floor (`pretune.tasks.result_checks`), once, as `warning:` lines and in the summary; and
its progress lines show the task's headline metric."""

from __future__ import annotations

from pathlib import Path

import pytest

from pretune.catalog import load_recipe_config
from pretune.catalog import recipe as catalog_entry
from pretune.tasks.result_checks import MIN_EVAL_ROWS, floor_warnings, run_warnings
from recipe_setups import SETUPS, TinyFiles


def _classifier(accuracy: float, macro_f1: float = 0.5, count: int = 100) -> dict:
    return {"test": {"accuracy": accuracy, "macro_f1": macro_f1, "count": count,
                     "confusion_matrix": [[60, 10], [20, 10]]}}  # fmt: skip


def test_a_healthy_summary_has_no_warnings() -> None:
    summary = {**_classifier(0.85), "validation": {"accuracy": 0.8, "count": MIN_EVAL_ROWS}}
    assert run_warnings(summary) == []


def test_too_few_rows_is_one_line_naming_each_small_split() -> None:
    summary = {**_classifier(0.85, count=9), "validation": {"accuracy": 0.8, "count": 12}}
    (line,) = run_warnings(summary)
    assert line.startswith("few rows to measure on (validation 12, test 9; fewer than 30)")
    assert "11.1 points" in line  # one row of the 9 test rows
    # Split sizes are read from data.sizes when the metrics carry no count.
    sized = {"data": {"sizes": {"train": 500, "validation": 20, "test": 200}}}
    assert "(validation 20;" in run_warnings(sized)[0]


def test_accuracy_at_the_majority_rate_is_flagged() -> None:
    # The majority class holds 70 of the 100 test rows.
    (line,) = floor_warnings(_classifier(0.70))
    assert line.startswith("test: accuracy 0.7000 is no better than always answering the most "
                           "common class (0.7000)")  # fmt: skip
    assert floor_warnings(_classifier(0.71)) == []


def test_macro_f1_and_exact_match_at_zero_are_flagged() -> None:
    assert floor_warnings(_classifier(0.9, macro_f1=0.0)) == [
        "test: macro F1 0.0: no class is predicted correctly"
    ]
    qa = {"test": {"exact_match": 0.0, "f1": 3.1, "count": 50}}
    assert floor_warnings(qa) == [
        "test: exact match 0.0: no predicted answer matches a reference exactly"
    ]
    # Without a test split, the last validation is judged.
    assert floor_warnings({"validation": {"exact_match": 0.0}})[0].startswith("validation: ")


def test_ner_entity_f1_at_zero_says_whether_any_entity_was_predicted() -> None:
    none = {"test": {"f1": 0.0, "accuracy": 0.95, "entities": 8, "predicted_entities": 0}}
    assert floor_warnings(none)[0].startswith(
        "test: no entities predicted: entity F1 0.0 (8 gold entities)"
    )
    wrong = {"test": {"f1": 0.0, "accuracy": 0.9, "entities": 8, "predicted_entities": 5}}
    assert floor_warnings(wrong) == ["test: entity F1 0.0: no predicted entity is right"]


def test_a_tiny_ner_run_that_predicts_no_entities_says_so(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A learning rate so high that the tiny tagger collapses to tagging every word O (the
    # validation loss still falls, so training looks fine); eval.metric=accuracy monitors the
    # token accuracy, a proxy: progress must still show the entity F1.
    recipe, overrides = SETUPS["ner"](TinyFiles(tmp_path, Path(), tiny_bert, Path()))
    cfg = load_recipe_config(recipe, None, [*overrides, f"output_dir={tmp_path}", "name=n",
                             "train.max_steps=6", "train.lr=0.1", "train.warmup_ratio=0",
                             "train.eval_every=2", "eval.metric=accuracy"])  # fmt: skip
    lines: list[str] = []
    summary = catalog_entry(recipe).run_function()(cfg, log=lines.append, live_progress=False)
    assert summary["test"]["predicted_entities"] == 0 and summary["test"]["f1"] == 0.0
    no_entities = [w for w in summary["warnings"] if "no entities predicted" in w]
    assert len(no_entities) == 1
    assert sum("warning: test: no entities predicted" in line for line in lines) == 1
    assert any(line.startswith("warning: few rows to measure on") for line in lines)
    evaluations = [line for line in capsys.readouterr().err.splitlines()
                   if line.startswith("eval step")]  # fmt: skip
    assert len(evaluations) == 3
    assert all(line.split(": ", 1)[1].startswith("f1 0.0000  accuracy ") for line in evaluations)
