"""The page of a transfer run (fewshot, metalearn, zeroshot): headline cards, every setting's
accuracy and macro-F1 (mean ± std over draws), notes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pretune.report.html import cards, esc, page, section, table

__all__ = ["write_transfer_page"]


def _fmt(stat: Any) -> str:
    # A deterministic method (zero-shot) has one number, not mean ± std over draws.
    if isinstance(stat, dict):  # std is None for a single draw: no spread was measured
        spread = "" if stat["std"] is None else f" ± {stat['std']:.4f}"
        return f"{stat['mean']:.4f}{spread}"
    return f"{float(stat):.4f}"


def write_transfer_page(
    run_dir: Path,
    command: str,
    rows: Sequence[tuple[str, dict[str, Any]]],
    notes: Sequence[str] = (),
) -> Path:
    """`<run_dir>/report.html`; `rows` are (name, {metric: value}), where a value is a number or
    {mean, std}."""
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
    path = run_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
