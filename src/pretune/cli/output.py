"""What the CLI prints: one style for every command that prints a result.

A command builds its result as plain data (a dict) and hands it to `emit`:
- with `--json`, the data itself as JSON on stdout, full precision, for scripts;
- otherwise a short human summary made of lines and tables (`Table`): rich tables on a
  terminal, plain aligned text when stdout is piped or redirected (no box characters, no
  colour codes, no wrapping at 80 columns), numbers rounded to 4 significant digits.
Progress and warnings go to stderr (`cli.common.log_line`), so stdout holds only the result.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Block",
    "Table",
    "add_json_flag",
    "add_result_command",
    "duration",
    "emit",
    "fmt",
    "mapping_blocks",
    "mapping_table",
    "print_config",
    "show",
]


@dataclass
class Table:
    """A titled table of already formatted cells; the first column names the row."""

    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    title: str = ""


Block = str | Table  # one line of text, or a table


def fmt(value: Any) -> str:
    """One cell: floats to 4 significant digits (whole from 1000 up), {"mean", "std"} as
    "mean ± std" (std None: the mean alone), None as -."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, float):
        if abs(value) >= 1000 or (value.is_integer() and abs(value) < 1e15):
            return f"{value:.0f}"  # 25481, not 2.548e+04
        return f"{value:.4g}"
    if isinstance(value, Mapping) and {"mean", "std"} <= set(value):
        # std is None after a single draw: no spread was measured, so none is shown.
        spread = "" if value["std"] is None else f" ± {value['std']:.4f}"
        return f"{value['mean']:.4f}{spread}"
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def duration(seconds: float | None) -> str:
    """`75.2` -> `1m15s`, `3725` -> `1h02m`, None -> `-` (without importing the trainer)."""
    if seconds is None:
        return "-"
    whole = max(0, round(seconds))
    hours, minutes = divmod(whole // 60, 60)
    return (
        f"{hours}h{minutes:02d}m"
        if hours
        else f"{minutes}m{whole % 60:02d}s"
        if minutes
        else f"{whole}s"
    )


def mapping_table(
    title: str, rows: Mapping[str, Mapping[str, Any]], keys: Sequence[str] | None = None
) -> Table:
    """One row per entry of `rows` (its name first), one column per key (default: every
    scalar key of the first row); a key a row lacks shows as -."""
    first = next(iter(rows.values()), {})
    keys = list(keys or [k for k, v in first.items() if _is_cell(v)])
    table = Table([""] + [k.replace("_", " ") for k in keys], title=title)
    for name, row in rows.items():
        table.rows.append([str(name), *[fmt(row.get(k)) for k in keys]])
    return table


def mapping_blocks(result: Mapping[str, Any], title: str = "") -> list[Block]:
    """Any nested result as blocks: its scalars in one key/value table, each group of
    same-shaped sub-mappings (e.g. float32 / int8) in a table, each list of records too."""
    scalars = {k: v for k, v in result.items() if _is_cell(v)}
    blocks: list[Block] = []
    if scalars:
        blocks.append(Table(["", "value"], [[k.replace("_", " "), fmt(v)] for k, v in
                                            scalars.items()], title))  # fmt: skip
    groups = {k: v for k, v in result.items() if isinstance(v, Mapping) and v}
    if groups and all(_is_cell(x) for v in groups.values() for x in v.values()):
        blocks.append(mapping_table("", groups))
    else:
        for key, value in groups.items():
            blocks.extend(mapping_blocks(value, key.replace("_", " ")))
    for key, value in result.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            records = {str(i): v for i, v in enumerate(value)}
            blocks.append(mapping_table(key.replace("_", " "), records))
    return blocks


def _is_cell(value: Any) -> bool:
    if isinstance(value, Mapping):
        return {"mean", "std"} <= set(value)
    if isinstance(value, list | tuple):
        return all(isinstance(v, int | float) for v in value) and len(value) <= 8
    return True


def show(blocks: Iterable[Block], file: Any = None) -> None:
    """Print `blocks`: rich tables on a terminal, plain aligned text otherwise."""
    out = file or sys.stdout
    if out.isatty():
        from rich.console import Console

        console = Console(file=out, highlight=False)
        for block in blocks:
            console.print(_rich_table(block) if isinstance(block, Table) else block, markup=False)
        return
    for block in blocks:
        print(_plain_table(block) if isinstance(block, Table) else block, file=out)


def _numeric_columns(block: Table) -> list[bool]:
    """Which columns hold mostly numbers (right-aligned); text stays left-aligned."""
    number = re.compile(r"[-+]?[\d.,]+(e[-+]?\d+)?(%| ± [\d.]+|x)?|-")
    counts = [sum(bool(number.fullmatch(row[i])) for row in block.rows) for i in
              range(len(block.columns))]  # fmt: skip
    return [i > 0 and 2 * n > len(block.rows) for i, n in enumerate(counts)]


def _rich_table(block: Table) -> Any:
    from rich.table import Table as RichTable

    table = RichTable(title=block.title or None, title_justify="left")
    for name, numeric in zip(block.columns, _numeric_columns(block), strict=True):
        table.add_column(name, justify="right" if numeric else "left")
    for row in block.rows:
        table.add_row(*row)
    return table


def _plain_table(block: Table) -> str:
    cells = [block.columns, *block.rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(block.columns))]
    numeric = _numeric_columns(block)
    lines = [block.title + ":"] if block.title else []
    for row in cells if any(block.columns) else block.rows:
        shown = [cell.rjust(w) if right else cell.ljust(w)
                 for cell, w, right in zip(row, widths, numeric, strict=True)]  # fmt: skip
        lines.append("  ".join(shown).rstrip())
    return "\n".join(lines)


def emit(result: Any, as_json: bool, human: Callable[[Any], list[Block]]) -> int:
    """Print a command's result as JSON (`--json`) or as its human summary; exit status 0."""
    try:
        if as_json:
            print(json.dumps(result, indent=2, default=str))
        else:
            show(human(result))
        sys.stdout.flush()
    except BrokenPipeError:  # `pretune runs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """`--json`: the command's result as JSON on stdout instead of the human summary."""
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON (for scripts)"
    )


def add_result_command(
    sub: Any,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    *,
    help: str,
    arguments: Sequence[tuple[Sequence[str], dict[str, Any]]] = (),
    group: tuple[str, str] | None = None,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Register a command that prints a result: `pretune NAME` (or, with `group=(group,
    group_help)`, `pretune GROUP NAME`), its arguments from a table of (flags, kwargs), and
    `--json`. Every such command gets the same shape, so none repeats the parser code."""
    if group is None:
        parser = sub.add_parser(name, help=help, description=description or help)
    else:
        outer = sub.add_parser(group[0], help=group[1])
        actions = outer.add_subparsers(dest=f"{group[0]}_command", required=True, metavar="ACTION")
        parser = actions.add_parser(name, help=help, description=description or help)
    for flags, kwargs in arguments:
        parser.add_argument(*flags, **kwargs)
    add_json_flag(parser)
    parser.set_defaults(handler=handler)
    return parser


def print_config(config: Any, console: Any = None) -> None:
    """Every config field of a RunConfig: key, resolved value, one line of help."""
    from rich.console import Console
    from rich.table import Table as RichTable

    from pretune.config import describe_fields

    console = console or Console()
    rows = describe_fields(config)
    table = RichTable(show_lines=False)
    # Keys are copied into overrides: never cut them, however narrow the terminal; help wraps.
    widest = max((len(key) for key, _, _ in rows), default=3)
    table.add_column("key", style="bold", no_wrap=True, min_width=widest)
    table.add_column("value", overflow="fold")
    table.add_column("help", overflow="fold")
    for key, value, help_text in rows:
        table.add_row(key, "null" if value is None else str(value), help_text)
    console.print(table)


def add_run_report_command(
    sub: Any,
    name: str,
    options: dict[str, Any],
    command: Callable[[Any, dict[str, Any]], dict[str, Any]],
    doc: str | None,
) -> None:
    """Register `pretune NAME RUN [key=value ...] [--json]`, a command that reads a finished run
    and reports on it (quantize, export, prune): `options` types the key=value options, then
    `command(run, options) -> report` and the report is printed as tables or JSON. `doc` is
    the command module's docstring: its usage line, its one-line help, then the description."""
    from pathlib import Path

    from pretune.cli.common import run_must_exist

    @run_must_exist
    def handler(args: argparse.Namespace) -> int:
        from pretune.deploy.options import parse_options

        report = command(args.run, parse_options(args.options, options))
        return emit(report, args.json, lambda r: mapping_blocks(r, f"{name} {args.run}"))

    arguments = [
        (("run",), {"type": Path, "help": "a finished run folder"}),
        (("options",), {"nargs": "*", "help": f"key=value: {', '.join(options)}"}),
    ]
    _, help_text, *more = (doc or "").strip().split("\n\n")
    add_result_command(sub, name, handler, help=help_text, arguments=arguments,
                       description=" ".join([help_text, *more]))  # fmt: skip
