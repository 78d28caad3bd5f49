"""The runs in a runs root, one row each: what `pretune runs` lists (layer 8, beside `runs`).

A run folder is a folder with a `config.yaml`. Its status:
- running: `run.lock` names a live process (the owner writes its pid there);
- finished: `summary.json` is there (and no live owner);
- interrupted: neither (killed, crashed or stopped; `--resume` continues it when a
  checkpoint was written). A `run.lock` whose process is gone means interrupted too.

Reads only small files (no torch, no model), so listing hundreds of runs takes a moment.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pretune.train.callbacks import LOWER_IS_BETTER as CALLBACKS_LOWER_IS_BETTER
from pretune.train.run_lock import LOCK_FILE, lock_is_live, read_lock

__all__ = ["DEFAULT_RUNS_ROOT", "LOCK_FILE", "RunRow", "list_runs", "main_metric", "sort_runs"]

DEFAULT_RUNS_ROOT = Path("runs")  # the schema default of `output_dir` (tests check they agree)

# recipe -> (metric name, path in summary.json); other recipes: test accuracy, else test loss.
_MAIN_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "pretrain": ("perplexity", ("validation", "perplexity")),
    "sft": ("perplexity", ("validation", "perplexity")),
    "ner": ("f1", ("test", "f1")),
    "qa": ("f1", ("test", "f1")),
    "rl": ("reward", ("reward", "last_steps_mean")),
}
LOWER_IS_BETTER = CALLBACKS_LOWER_IS_BETTER | {"log_loss", "ece", "duration"}


@dataclass
class RunRow:
    """One run: its folder, what made it, when, how it stands and how it scored."""

    name: str
    path: str
    recipe: str
    started: str  # UTC, "YYYY-mm-dd HH:MM" (config.yaml's time: written when the run starts)
    status: str  # finished | running | interrupted
    metric: str | None = None  # the recipe's main metric, e.g. accuracy
    value: float | None = None
    duration_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # every test/validation number

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def main_metric(recipe: str, summary: dict[str, Any]) -> tuple[str, float] | None:
    """(name, value) of the number a run of `recipe` is judged by, if its summary has it.
    Transfer recipes: the accuracy of their method (few-shot, meta-learning: the mean over
    draws) or of their last zero-shot step."""
    candidates = [_MAIN_METRICS[recipe]] if recipe in _MAIN_METRICS else []
    results = summary.get("results")
    if isinstance(results, dict) and results:
        name = summary.get("method") if summary.get("method") in results else None
        name = name or (list(results)[-1] if recipe == "zeroshot" else next(iter(results)))
        candidates.append(("accuracy", ("results", name, "accuracy")))
    candidates += [("accuracy", ("test", "accuracy")), ("loss", ("test", "loss"))]
    for metric, path in candidates:
        value = _dig(summary, path)
        value = value.get("mean") if isinstance(value, dict) else value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return metric, float(value)
    return None


def _status(folder: Path) -> str:
    lock = read_lock(folder)  # the same liveness rules as the writer that refuses a second run
    if lock is not None and lock_is_live(lock):
        return "running"
    return "finished" if (folder / "summary.json").is_file() else "interrupted"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # unreadable or half-written: the row still shows, without numbers
    return data if isinstance(data, dict) else {}


def _recipe(folder: Path, summary: dict[str, Any]) -> str:
    match = re.search(r"^recipe:\s*(\S+)", _read_text(folder / "config.yaml"), re.MULTILINE)
    return match.group(1) if match else str(summary.get("recipe") or "?")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _last_write(folder: Path) -> float:
    """The latest modification time of the run's files (how far an unfinished run got)."""
    times = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()]
    return max(times, default=folder.stat().st_mtime)


def _flat_metrics(summary: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for section in ("validation", "test"):  # test numbers win when both have a key
        values = summary.get(section)
        if isinstance(values, dict):
            out.update({k: float(v) for k, v in values.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)})  # fmt: skip
    return out


def read_run_row(folder: Path) -> RunRow:
    """The row of one run folder (a folder with config.yaml)."""
    summary = _read_json(folder / "summary.json")
    recipe = _recipe(folder, summary)
    started = (folder / "config.yaml").stat().st_mtime
    duration = _dig(summary, ("timing", "total_seconds"))
    if not isinstance(duration, int | float):
        duration = max(0.0, _last_write(folder) - started)
    metrics = _flat_metrics(summary)
    main = main_metric(recipe, summary)
    if main:
        metrics[main[0]] = main[1]
    return RunRow(
        name=folder.name, path=str(folder), recipe=recipe, status=_status(folder),
        started=time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)),
        metric=main[0] if main else None, value=main[1] if main else None,
        duration_s=float(duration), metrics=metrics,
    )  # fmt: skip


def sort_runs(rows: list[RunRow], key: str = "started") -> list[RunRow]:
    """Rows sorted by `key`: started (oldest first), name, recipe, status, duration (shortest
    first), or a metric name (best first: highest, or lowest for loss-like metrics); rows
    without that metric go last, in start order."""
    if key in ("started", "name", "recipe", "status"):
        return sorted(rows, key=lambda r: (getattr(r, key), r.started, r.name))
    if key == "duration":
        return sorted(rows, key=lambda r: (r.duration_s is None, r.duration_s or 0.0, r.name))
    sign = 1.0 if key in LOWER_IS_BETTER else -1.0
    by_start = sorted(rows, key=lambda r: (r.started, r.name))
    return sorted(by_start, key=lambda r: (key not in r.metrics, sign * r.metrics.get(key, 0.0)))


def list_runs(folder: str | Path = DEFAULT_RUNS_ROOT, sort: str = "started") -> list[RunRow]:
    """Every run folder directly inside `folder`, as rows sorted by `sort` (see `sort_runs`).

    Raises:
        ConfigError: `folder` does not exist.
    """
    from pretune.errors import ConfigError

    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such runs folder; give the folder that holds run folders "
                          "(a config's output_dir, default runs)")  # fmt: skip
    rows = [read_run_row(p) for p in sorted(root.iterdir()) if (p / "config.yaml").is_file()]
    return sort_runs(rows, sort)
