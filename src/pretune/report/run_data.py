"""Read a run folder for reporting: tolerant of runs from older versions and unfinished runs.

A report must never be lost to a missing key, so everything here returns empty containers or
None rather than raising; the one exception is a folder that is not a run at all.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pretune.errors import CheckpointError
from pretune.files import read_json

__all__ = ["RunData", "dig", "flatten", "load_run", "number", "read_records", "series"]


@dataclass
class RunData:
    """What a run folder holds, as plain data."""

    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False  # summary.json exists
    finished_at: str | None = None  # summary.json's modification time, UTC

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.run_dir.name)

    @property
    def recipe(self) -> str:
        """The recipe that made the run, from the summary, else from the folder name."""
        recipe = self.summary.get("recipe")
        if isinstance(recipe, str) and recipe:
            return recipe
        prefix = self.run_dir.name.split("-", 1)[0]
        if prefix in ("finetune", "quickstart", "pretrain", "distill", "search"):
            return prefix
        return "finetune" if self.summary.get("task") == "classify" else "unknown"

    @property
    def labels(self) -> list[str]:
        """Label names: summary["labels"], else the per-class keys, else indices."""
        labels = self.summary.get("labels")
        if isinstance(labels, list) and labels:
            return [str(x) for x in labels]
        per_class = dig(self.summary, "test", "per_class")
        if isinstance(per_class, dict) and per_class:
            return [str(x) for x in per_class]
        matrix = dig(self.summary, "test", "confusion_matrix")
        return [str(i) for i in range(len(matrix))] if isinstance(matrix, list) else []

    def split_records(self, split: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("split") == split]


def dig(data: Any, *keys: str) -> Any:
    """`data[k1][k2]...`, or None as soon as a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as dotted (key, value) rows; lists and empty mappings stay whole."""
    if isinstance(data, dict) and data:
        rows = []
        for key, value in data.items():
            rows.extend(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix, data)]


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (strings, None, NaN, bools)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def series(records: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of `key` over records that have both as finite numbers."""
    steps, values = [], []
    for record in records:
        step, value = number(record.get("step")), number(record.get(key))
        if step is not None and value is not None:
            steps.append(step)
            values.append(value)
    return steps, values


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json(path, "the run folder is damaged")
    return data if isinstance(data, dict) else {}


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl` ([] if there is none); a half-written line (a crash)
    is skipped, so readers see what is readable."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def load_run(run_dir: Path) -> RunData:
    """Read `config.yaml`, `metrics.jsonl` and `summary.json` of a run folder (each optional).

    Raises:
        CheckpointError: If the folder does not exist or holds none of those files.
    """
    run_dir = Path(run_dir)
    files = {name: run_dir / name for name in ("summary.json", "config.yaml", "metrics.jsonl")}
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run folder")
    if not any(path.is_file() for path in files.values()):
        raise CheckpointError(
            f"{run_dir} is not a pretune run folder (no summary.json, config.yaml or "
            "metrics.jsonl); give the folder a run printed, e.g. runs/finetune-20260101-120000"
        )
    run = RunData(run_dir)
    if files["summary.json"].is_file():
        run.summary = _read_json(files["summary.json"])
        run.finished = True
        mtime = files["summary.json"].stat().st_mtime
        run.finished_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mtime))
    if files["config.yaml"].is_file():
        run.config = _read_config(files["config.yaml"])
    if files["metrics.jsonl"].is_file():
        run.records = read_records(files["metrics.jsonl"])
    return run
