"""When a run's numbers mean little, say so: too few rows to measure on, or a headline metric
at its floor (no entities predicted, accuracy no better than always answering the most common
class, macro F1 or exact match 0). The runner logs each as one `warning:` line when a run ends
and keeps them in `summary["warnings"]`; `pretune evaluate calibrate=true` refuses to fit a
temperature on fewer rows than `MIN_EVAL_ROWS`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MIN_EVAL_ROWS", "floor_warnings", "row_count_warning", "run_warnings"]

# A metric measured on n rows moves by 1/n when one row changes, and an accuracy's standard
# error is up to sqrt(0.25 / n): at 30 rows one row is 3.3 points and the error about ±0.09.
# Below that, differences between evaluations or runs are mostly which rows fell in the split,
# and a fitted statistic (a calibration temperature) follows a handful of rows.
MIN_EVAL_ROWS = 30


def _count(summary: dict[str, Any], split: str) -> int | None:
    metrics = summary.get(split)
    if isinstance(metrics, dict) and isinstance(metrics.get("count"), int):
        return metrics["count"]
    sizes = (summary.get("data") or {}).get("sizes") or {}
    return sizes.get(split) if isinstance(sizes.get(split), int) else None


def row_count_warning(summary: dict[str, Any]) -> str | None:
    """One line naming the validation/test splits with fewer than MIN_EVAL_ROWS rows."""
    small = {}
    for split in ("validation", "test"):
        rows = _count(summary, split)
        if rows is not None and 0 < rows < MIN_EVAL_ROWS:
            small[split] = rows
    if not small:
        return None
    shown = ", ".join(f"{split} {rows}" for split, rows in small.items())
    fewest = min(small.values())
    return (
        f"few rows to measure on ({shown}; fewer than {MIN_EVAL_ROWS}): one row moves a metric "
        f"by up to {100 / fewest:.1f} points, so these numbers are rough; use more data or "
        "larger data.val_fraction / data.test_fraction"
    )


def _majority_rate(metrics: dict[str, Any]) -> float | None:
    """The accuracy of always answering the most common true class (from the confusion matrix)."""
    matrix = metrics.get("confusion_matrix")
    if not isinstance(matrix, list) or not matrix:
        return None
    rows = [sum(row) for row in matrix]
    return max(rows) / sum(rows) if sum(rows) else None


def _floors(metrics: dict[str, Any]) -> list[str]:
    if metrics.get("predicted_entities") == 0:
        gold = metrics.get("entities", "?")
        return [f"no entities predicted: entity F1 0.0 ({gold} gold entities); the model "
                "tags every word O: train longer or check the tags"]  # fmt: skip
    if "entities" in metrics:
        return ["entity F1 0.0: no predicted entity is right"] if metrics.get("f1") == 0 else []
    if metrics.get("exact_match") == 0:
        return ["exact match 0.0: no predicted answer matches a reference exactly"]
    found = []
    majority = _majority_rate(metrics)
    accuracy = metrics.get("accuracy")
    if majority is not None and isinstance(accuracy, float) and accuracy <= majority + 1e-9:
        found.append(f"accuracy {accuracy:.4f} is no better than always answering the most "
                     f"common class ({majority:.4f}): the model has not learned to tell the "
                     "classes apart")  # fmt: skip
    if metrics.get("macro_f1") == 0:
        found.append("macro F1 0.0: no class is predicted correctly")
    return found


def floor_warnings(summary: dict[str, Any]) -> list[str]:
    """The headline metrics at their floor, on the test split (else the last validation)."""
    for split in ("test", "validation"):
        metrics = summary.get(split)
        if isinstance(metrics, dict) and metrics:
            return [f"{split}: {line}" for line in _floors(metrics)]
    return []


def run_warnings(summary: dict[str, Any]) -> list[str]:
    """Everything a finished run's summary should warn about (without `warning: `)."""
    rows = row_count_warning(summary)
    return [*([rows] if rows else []), *floor_warnings(summary)]
