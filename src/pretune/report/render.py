"""`write_report(run_dir)`: render `runs/<name>/report.html`, one self-contained page.

The page is the summary cards, then one section per entry of `sections.SECTIONS`. A section
whose data is missing says so; one that does not apply to this kind of run (returns None) is
left out; a section that fails on unexpected data (a run from another
version) shows a one-line note instead of taking the whole report down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pretune.files import WriteError, write_text_atomic  # fsynced, renamed into place
from pretune.report.html import cards, esc, page, section
from pretune.report.run_data import RunData, dig, load_run
from pretune.report.sections import SECTIONS, summary_cards

__all__ = ["render_report", "try_write_report", "write_report", "write_text_atomic"]

logger = logging.getLogger(__name__)


def _header(run: RunData) -> str:
    facts = [
        ("recipe", run.recipe),
        ("finished", run.finished_at or "not finished"),
        ("model", dig(run.config, "model", "init_from")),
        ("data", dig(run.config, "data", "source")),
        ("labels", len(run.labels) or None),
        ("folder", str(run.run_dir)),
    ]
    meta = "".join(f"<span>{esc(k)}: <b>{esc(v)}</b></span>" for k, v in facts if v is not None)
    return (
        f'<header class="top"><h1>pretune report: {esc(run.name)}</h1>'
        f'<div class="meta">{meta}</div></header>'
    )


def _render_section(
    render: Callable[[RunData], str | None], run: RunData, title: str
) -> str | None:
    try:
        return render(run)
    except Exception as exc:  # unexpected data from another version: lose one section only
        logger.warning("report section %r failed: %s", title, exc)
        return f'<p class="missing">Could not render this section: {esc(exc)}</p>'


def render_report(run: RunData) -> str:
    """The report of one run as an HTML string."""
    body = [cards(summary_cards(run))]
    if not run.finished:
        body.append(
            '<p class="warn">This run has no summary.json: it did not finish (or is still '
            "running). The report shows what metrics.jsonl and config.yaml hold so far.</p>"
        )
    nav = []
    for anchor, title, render in SECTIONS:
        html = _render_section(render, run, title)
        if html is None:  # the section does not apply to this kind of run (RL, images)
            continue
        body.append(section(anchor, title, html))
        nav.append((anchor, title))
    return page(f"pretune report: {run.name}", _header(run), nav, "".join(body))


def write_report(run_dir: Path, output: Path | None = None) -> Path:
    """Render the report of a run folder to `<run_dir>/report.html` (or `output`).

    Args:
        run_dir: A run folder (finished or not).
        output: Where to write; default `run_dir / "report.html"`.

    Returns:
        The path written.

    Raises:
        CheckpointError: If `run_dir` is not a run folder or its summary.json is unreadable.
    """
    run = load_run(Path(run_dir))
    path = Path(output) if output is not None else run.run_dir / "report.html"
    write_text_atomic(path, render_report(run))
    return path


def try_write_report(run_dir: Path, log: Callable[[str], Any] = print) -> Path | None:
    """`write_report`, for the end of a training run: a failure is one warning line, never
    an exception, so a finished run is never lost to its report."""
    try:
        path = write_report(run_dir)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, WriteError) else f"{type(exc).__name__}: {exc}"
        log(f"warning: report.html not written ({reason}); retry with `pretune report {run_dir}`")
        return None
    log(f"report: {path}")
    return path
