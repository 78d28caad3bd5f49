"""`write_compare(run_dirs, output)`: several runs on one page.

A side-by-side table of metrics (best value per row highlighted, knowing which way is better),
the settings that differ between the runs, and overlaid training-loss and validation curves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pretune.errors import ConfigError
from pretune.report.evaluation_sections import EFFICIENCY
from pretune.report.html import Num, Raw, esc, fmt, image, missing, page, row, section, table
from pretune.report.plots import line_chart
from pretune.report.render import write_text_atomic
from pretune.report.run_data import RunData, dig, flatten, load_run, number, series
from pretune.report.sections import TEST_METRICS

__all__ = [
    "best_indices",
    "compare_rows",
    "comparison",
    "default_compare_path",
    "render_compare",
    "write_compare",
]

# Efficiency measures where lower or higher is better; the rest are shown without a winner.
_EFFICIENCY_BETTER = {
    "train_seconds": "min",
    "train_examples_per_s": "max",
    "train_tokens_per_s": "max",
    "latency_ms_p50": "min",
    "latency_ms_p95": "min",
    "throughput_examples_per_s": "max",
    "peak_memory_mb": "min",
}
_IGNORED_SETTINGS = ("name", "output_dir")  # differ by construction, say nothing


def best_indices(values: Sequence[Any], better: str | None) -> set[int]:
    """Indices of the best values ("max" or "min"; ties all win); none when fewer than two
    runs have the value or all are equal."""
    numbers = [(i, number(v.value if isinstance(v, Num) else v)) for i, v in enumerate(values)]
    present = [(i, v) for i, v in numbers if v is not None]
    if better not in ("max", "min") or len(present) < 2:
        return set()
    if len({v for _, v in present}) == 1:
        return set()
    target = max(v for _, v in present) if better == "max" else min(v for _, v in present)
    return {i for i, v in present if v == target}


def compare_rows(runs: Sequence[RunData]) -> list[tuple[str, list[Any], str | None]]:
    """(label, one value per run, "max"/"min"/None) for every measure at least one run has."""
    candidates: list[tuple[str, list[Any], str | None]] = []
    for key, label, better in TEST_METRICS:
        candidates.append((f"test {label}", [dig(r.summary, "test", key) for r in runs], better))
    candidates.append(("ECE", [dig(r.summary, "calibration", "ece") for r in runs], "min"))
    metrics = {dig(r.summary, "best_validation", "metric") for r in runs} - {None}
    if len(metrics) == 1:  # only comparable when every run picked by the same metric
        values = [dig(r.summary, "best_validation", "value") for r in runs]
        candidates.append((f"best validation {metrics.pop()}", values, "max"))
    candidates.append(("steps", [r.summary.get("steps") for r in runs], None))
    candidates.append(("epochs", [_num(r.summary.get("epochs")) for r in runs], None))
    for key, label in EFFICIENCY:
        values = [
            _num(
                dig(r.summary, "efficiency", key)
                if dig(r.summary, "efficiency", key) is not None
                else dig(r.summary, "timing", key)
            )
            for r in runs
        ]
        candidates.append((label, values, _EFFICIENCY_BETTER.get(key)))
    return [row for row in candidates if any(v is not None for v in row[1])]


def _num(value: Any) -> Any:
    # Timings and sizes read best with two decimals; None stays None (the row filter needs it).
    return None if value is None else Num(value)


def _run_labels(runs: Sequence[RunData]) -> list[str]:
    names = [r.name for r in runs]
    # Two runs of the same name in different folders: show the parent folder too.
    return [
        f"{name} ({r.run_dir.parent.name})" if names.count(name) > 1 else name
        for name, r in zip(names, runs, strict=True)
    ]


def _cell_text(value: Any) -> str:
    if isinstance(value, Num):
        return esc(fmt(value.value, value.digits))
    return esc(fmt(value))


def _metrics_table(runs: Sequence[RunData], labels: list[str]) -> str:
    rows = compare_rows(runs)
    if not rows:
        return missing("none of these runs has a summary.json")
    head = "".join(f"<th>{esc(label)}</th>" for label in ["measure", *labels])
    body = []
    for label, values, better in rows:
        best = best_indices(values, better)
        cells = "".join(
            f'<td class="num{" best" if i in best else ""}">{_cell_text(v)}</td>'
            for i, v in enumerate(values)
        )
        arrow = {"max": " ↑", "min": " ↓"}.get(better or "", "")
        body.append(f"<tr><td>{esc(label + arrow)}</td>{cells}</tr>")
    note = (
        '<p class="muted">↑ higher is better, ↓ lower is better; the best value of each row is '
        "highlighted.</p>"
    )
    return f"{note}<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _settings_table(runs: Sequence[RunData], labels: list[str]) -> str:
    flat = [dict(flatten(r.config)) for r in runs]
    keys = sorted({key for f in flat for key in f} - set(_IGNORED_SETTINGS))
    rows = []
    for key in keys:
        values = [f.get(key, "(not set)") for f in flat]
        if len({repr(v) for v in values}) > 1:
            rows.append(
                [key, *(fmt(v) if not isinstance(v, list | dict) else str(v) for v in values)]
            )
    if not rows:
        return '<p class="lead">All settings are the same (apart from name and folder).</p>'
    return table(["setting", *labels], rows, css_class="settings")


def _curves(runs: Sequence[RunData], labels: list[str]) -> str:
    metric = next((str(m) for r in runs if (m := dig(r.config, "eval", "metric"))), "accuracy")
    charts = (
        ("train", "loss", "Training loss", "loss"),
        ("validation", "loss", "Validation loss", "loss"),
        ("validation", metric, f"Validation {metric}", metric),
    )
    images = []
    for split, key, title, ylabel in charts:
        lines = [
            (label, *series(r.split_records(split), key))
            for label, r in zip(labels, runs, strict=True)
        ]
        if uri := line_chart(lines, title=title, ylabel=ylabel):
            images.append(image(uri, title))
    if not images:
        return missing("no metrics.jsonl records")
    return row(*images)


def _runs_table(runs: Sequence[RunData], labels: list[str], output: Path) -> str:
    rows = []
    for label, run in zip(labels, runs, strict=True):
        report = run.run_dir / "report.html"
        link: Any = "—"
        if report.is_file():
            href = os.path.relpath(report.resolve(), output.resolve().parent)
            link = Raw(f'<a href="{esc(Path(href).as_posix())}">report.html</a>')
        model = dig(run.config, "model", "init_from")
        rows.append((label, run.recipe, model or "—", run.finished_at or "not finished", link))
    return table(["run", "recipe", "model", "finished", "report"], rows)


def render_compare(runs: Sequence[RunData], output: Path = Path("compare.html")) -> str:
    """The comparison page of `runs` as an HTML string (`output` anchors relative links)."""
    labels = _run_labels(runs)
    header = (
        f'<header class="top"><h1>pretune compare: {len(runs)} runs</h1>'
        f'<div class="meta">{"".join(f"<span><b>{esc(x)}</b></span>" for x in labels)}</div>'
        "</header>"
    )
    parts = [
        ("runs", "Runs", _runs_table(runs, labels, output)),
        ("metrics", "Metrics side by side", _metrics_table(runs, labels)),
        ("settings", "Settings that differ", _settings_table(runs, labels)),
        ("curves", "Curves", _curves(runs, labels)),
    ]
    body = "".join(section(anchor, title, html) for anchor, title, html in parts)
    nav = [(anchor, title) for anchor, title, _ in parts]
    return page(f"pretune compare: {', '.join(labels)}", header, nav, body)


def default_compare_path(run_dirs: Sequence[Path]) -> Path:
    """`compare.html` next to the runs: in the folder that holds them all (never the current
    folder, which may be anywhere)."""
    parents = [str(Path(d).resolve().parent) for d in run_dirs]
    return Path(os.path.commonpath(parents)) / "compare.html"


def comparison(runs: Sequence[RunData]) -> dict[str, Any]:
    """What the page compares, as plain data: the run labels and, per measure, one value per
    run (None where a run lacks it)."""
    return {
        "runs": _run_labels(runs),
        "metrics": {
            label: [v.value if isinstance(v, Num) else v for v in values]
            for label, values, _ in compare_rows(runs)
        },
    }


def write_compare(run_dirs: Sequence[Path], output: Path | None = None) -> Path:
    """Write one page comparing the given run folders.

    Args:
        run_dirs: Two or more run folders.
        output: The HTML file to write; default `compare.html` in the folder holding the runs
            (`default_compare_path`).

    Returns:
        The path written.

    Raises:
        ConfigError: If fewer than two runs are given.
        CheckpointError: If a folder is not a run folder.
    """
    if len(run_dirs) < 2:
        raise ConfigError("compare needs at least two run folders, e.g. runs/a runs/b")
    runs = [load_run(Path(d)) for d in run_dirs]
    output = Path(output) if output is not None else default_compare_path(run_dirs)
    write_text_atomic(output, render_compare(runs, output))
    return output
