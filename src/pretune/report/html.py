"""Small HTML builders for the self-contained report pages.

Every piece of text that comes from a run (labels, example texts, config values, paths) passes
through `esc`; only markup built here is trusted, and it travels as `Raw` so a table cell can hold
either plain text (escaped) or markup (kept). No external URLs, fonts or scripts: the pages open
from a file, offline, years later.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CSS",
    "Num",
    "Raw",
    "bar_cell",
    "cards",
    "cut_text",
    "details",
    "esc",
    "fmt",
    "image",
    "missing",
    "page",
    "row",
    "section",
    "show_value",
    "table",
]


@dataclass(frozen=True)
class Num:
    """A number shown with `digits` decimals (timings: 2, metrics: the default 4)."""

    value: Any
    digits: int = 2


@dataclass(frozen=True)
class Raw:
    """Markup that is already safe (built by this module), not to be escaped again."""

    html: str


def esc(value: Any) -> str:
    """Escape any value for HTML text or attribute context (quotes included)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A value as short readable text: 0.912345 -> '0.9123', 12000 -> '12,000', None -> '—'."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e7 or abs(value) < 1e-3):
            return f"{value:.3g}"
        if abs(value) >= 10:  # timings, throughputs: four decimals would be noise
            return (
                f"{value:,.0f}" if value == int(value) and abs(value) >= 1000 else f"{value:,.1f}"
            )
        return f"{value:.{digits}f}"
    return str(value)


def show_value(value: Any) -> Any:
    """Config-like values for a table cell: lists / dicts as compact JSON, None as null."""
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return "null" if value is None else value


def cut_text(text: Any, limit: int = 300) -> str:
    """An example text cut to `limit` characters (with an ellipsis) for a table cell."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return value.html
    if isinstance(value, Num):
        return esc(fmt(value.value, value.digits))
    return esc(fmt(value))


def _is_number(value: Any) -> bool:
    if isinstance(value, Num):
        value = value.value
    return isinstance(value, int | float) and not isinstance(value, bool)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    css_class: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; cells are escaped unless wrapped in `Raw`; numbers are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        cells = "".join(
            f'<td class="num">{_cell(v)}</td>' if _is_number(v) else f"<td>{_cell(v)}</td>"
            for v in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def bar_cell(value: float, maximum: float, text: str) -> Raw:
    """A table cell with a small horizontal bar proportional to value/maximum (CSS only)."""
    width = 0.0 if maximum <= 0 else max(0.0, min(100.0, 100.0 * value / maximum))
    return Raw(
        f'<div class="barcell"><span class="bar" style="width:{width:.1f}%"></span>'
        f"<span>{esc(text)}</span></div>"
    )


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline numbers: (label, value, note) each, in a responsive grid."""
    out = []
    for label, value, note in items:
        note_html = f'<div class="note">{esc(note)}</div>' if note else ""
        out.append(
            f'<div class="card"><div class="label">{esc(label)}</div>'
            f'<div class="value">{esc(value)}</div>{note_html}</div>'
        )
    return f'<div class="cards">{"".join(out)}</div>'


def image(data_uri: str, alt: str) -> str:
    """An inline plot (a data: URI made by `pretune.report.plots`)."""
    return f'<figure class="plot"><img src="{esc(data_uri)}" alt="{esc(alt)}"></figure>'


def row(*blocks: str) -> str:
    """Blocks (plots, tables) side by side, wrapping on narrow screens; empty ones dropped."""
    inner = "".join(
        block if block.startswith("<figure") else f'<div class="block">{block}</div>'
        for block in blocks
        if block
    )
    return f'<div class="row">{inner}</div>' if inner else ""


def details(summary: str, body: str, *, open_: bool = False) -> str:
    """A collapsible block (no script needed)."""
    attr = " open" if open_ else ""
    return f"<details{attr}><summary>{esc(summary)}</summary>{body}</details>"


def missing(what: str = "") -> str:
    """The note shown where a section has no data in this run."""
    suffix = f" ({esc(what)})" if what else ""
    return f'<p class="missing">Not recorded for this run{suffix}.</p>'


def section(section_id: str, title: str, body: str) -> str:
    """One titled report section with an anchor for the table of contents."""
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{body}</section>'


CSS = """
:root { --fg:#1f2430; --muted:#6b7280; --line:#e5e7eb; --bg:#f6f7f9; --card:#fff;
        --accent:#2563eb; --good:#dcfce7; --goodfg:#166534; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { background:#111827; color:#f9fafb; padding:22px 32px 18px; }
header.top h1 { margin:0 0 4px; font-size:24px; font-weight:650; word-break:break-all; }
header.top .meta { color:#cbd5e1; font-size:13.5px; }
header.top .meta span { margin-right:18px; white-space:nowrap; }
nav.toc { background:#fff; border-bottom:1px solid var(--line); padding:8px 32px;
          font-size:13px; position:sticky; top:0; z-index:2; }
nav.toc a { color:var(--accent); text-decoration:none; margin-right:14px; white-space:nowrap; }
main { max-width:1180px; margin:0 auto; padding:18px 32px 48px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
          padding:16px 22px 18px; margin:18px 0; }
h2 { font-size:18px; margin:0 0 10px; font-weight:650; }
h3 { font-size:15px; margin:16px 0 6px; color:#374151; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(170px,1fr)); gap:12px;
         margin:18px 0 4px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px;
        padding:12px 16px; }
.card .label { color:var(--muted); font-size:12.5px; text-transform:uppercase;
               letter-spacing:.04em; }
.card .value { font-size:26px; font-weight:650; font-variant-numeric:tabular-nums; }
.card .note { color:var(--muted); font-size:12.5px; }
table { border-collapse:collapse; margin:6px 0 10px; font-size:13.5px; }
th, td { border-bottom:1px solid var(--line); padding:5px 12px 5px 0; text-align:left;
         vertical-align:top; }
th { color:#374151; font-weight:600; border-bottom:2px solid #d1d5db; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td { overflow-wrap:anywhere; }
table.texts td:first-child { max-width:560px; }
table.config td:first-child { font-family:ui-monospace, Menlo, Consolas, monospace;
                              font-size:12.5px; white-space:nowrap; }
table.config td:nth-child(3) { color:var(--muted); font-size:12.5px; }
table.settings td:first-child { font-family:ui-monospace, Menlo, Consolas, monospace;
                                font-size:12.5px; white-space:nowrap; }
td.best { background:var(--good); color:var(--goodfg); font-weight:650; }
.barcell { position:relative; min-width:140px; }
.barcell .bar { position:absolute; left:0; top:2px; bottom:2px; background:#dbeafe;
                border-radius:3px; }
.barcell span:last-child { position:relative; padding-left:6px; }
.row { display:flex; flex-wrap:wrap; gap:10px 36px; align-items:flex-start; }
.row > .block { flex:0 1 auto; min-width:0; }
.row > .block p { max-width:440px; }
figure.plot { margin:4px 0; flex:1 1 460px; max-width:580px; }
figure.plot img { width:100%; height:auto; display:block; }
details { margin:4px 0; }
details > summary { cursor:pointer; color:var(--accent); font-weight:550; margin:4px 0; }
p.missing { color:var(--muted); font-style:italic; margin:4px 0; }
p.lead { margin:2px 0 8px; }
.warn { background:#fef3c7; border:1px solid #fcd34d; border-radius:8px; padding:8px 12px; }
.muted { color:var(--muted); }
footer { color:var(--muted); font-size:12.5px; text-align:center; margin:24px 0; }
"""


def page(title: str, header: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """A complete, self-contained HTML document.

    Args:
        title: The <title> text (escaped here).
        header: Markup of the dark top banner (already safe).
        nav: (anchor id, label) pairs for the sticky table of contents.
        body: Markup of the sections (already safe).
    """
    links = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in nav)
    toc = f'<nav class="toc">{links}</nav>' if nav else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body>{header}{toc}<main>{body}"
        "<footer>generated by pretune</footer></main></body></html>\n"
    )
