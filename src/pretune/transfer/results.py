"""What every transfer command computes and saves: scores, mean ± std over draws, summary.json
(its report.html is `pretune.report.transfer_page`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pretune.config import save_config
from pretune.files import write_json_atomic
from pretune.train.run_folder import create_run_dir, environment

__all__ = ["aggregate", "open_run", "save_summary", "scores"]


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 (the headline numbers of every transfer method)."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def aggregate(per_draw: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """{metric: {mean, std}} over draws (sample std; 0.0 for a single draw)."""
    out = {}
    for key in per_draw[0]:
        values = np.array([float(d[key]) for d in per_draw])
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        out[key] = {"mean": round(float(values.mean()), 4), "std": round(std, 4)}
    return out


def open_run(cfg: Any, command: str) -> Path:
    """A new run folder for a transfer command, holding the config it ran with."""
    run_dir = create_run_dir(cfg, command)
    save_config(cfg, run_dir / "config.yaml")
    return run_dir


def save_summary(run_dir: Path, summary: dict[str, Any], started: float) -> dict[str, Any]:
    """Finish a transfer run: timing and environment into summary.json (no checkpoints kept)."""
    empty = run_dir / "checkpoints"  # made by create_run_dir; these runs keep no checkpoints
    if empty.is_dir() and not any(empty.iterdir()):
        empty.rmdir()
    summary["timing"] = {"total_seconds": round(time.perf_counter() - started, 2)}
    summary["environment"] = environment()
    write_json_atomic(run_dir / "summary.json", summary)
    return summary
