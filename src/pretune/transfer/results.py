"""What every transfer command writes: scores, mean ± std over draws, summary and report.html."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pretune.files import write_json_atomic
from pretune.report.html import cards, esc, page, section, table
from pretune.train.run_folder import environment

__all__ = ["aggregate", "scores", "write_outputs"]


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


def _fmt(stat: Any) -> str:
    # A deterministic method (zero-shot) has one number, not mean ± std over draws.
    if isinstance(stat, dict):
        return f"{stat['mean']:.4f} ± {stat['std']:.4f}"
    return f"{float(stat):.4f}"


def write_outputs(
    run_dir: Path,
    command: str,
    summary: dict[str, Any],
    rows: Sequence[tuple[str, dict[str, Any]]],
    started: float,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write summary.json and a small report.html; `rows` are (name, {metric: value}), where a
    value is a number or {mean, std}."""
    empty = run_dir / "checkpoints"  # made by create_run_dir; these runs keep no checkpoints
    if empty.is_dir() and not any(empty.iterdir()):
        empty.rmdir()
    summary["timing"] = {"total_seconds": round(time.perf_counter() - started, 2)}
    summary["environment"] = environment()
    write_json_atomic(run_dir / "summary.json", summary)
    headline = [(name, _fmt(stats["accuracy"]), "accuracy, mean ± std") for name, stats in rows]
    body = section("results", "Results", cards(headline[:4]))
    body += section(
        "table",
        "All settings",
        table(
            ["setting", "accuracy", "macro-F1"],
            [
                (name, _fmt(s["accuracy"]), _fmt(s["macro_f1"]) if "macro_f1" in s else "")
                for name, s in rows
            ],
        ),
    )
    if notes:
        body += section("notes", "Notes", "".join(f"<p>{esc(n)}</p>" for n in notes))
    header = f"<header><h1>pretune {esc(command)}</h1><p>{esc(run_dir.name)}</p></header>"
    html = page(f"pretune {command}: {run_dir.name}", header, [], body)
    (run_dir / "report.html").write_text(html, encoding="utf-8")
    summary["run_dir"] = str(run_dir)
    return summary
