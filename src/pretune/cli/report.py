"""`pretune report RUN [--out FILE]` and `pretune compare RUN RUN ... [--out FILE]`.

Both print where the page went and what is in it (the measures the page shows, one column
per run), or with `--json` the same as data.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.output import Block, Table, add_result_command, emit, fmt

__all__ = ["register"]

_SHOWN = 8  # measures printed; the page (and --json) has them all
_OUT_FLAGS = ("--out", "--output")  # --output: the name before 2026-12, still accepted


def register(sub: argparse._SubParsersAction) -> None:
    add_result_command(
        sub, "report", run_report, help="write (or rewrite) a run's self-contained report.html",
        arguments=[
            (("run",), {"type": Path, "help": "a run folder, e.g. runs/quickstart-20260101-1200"}),
            (_OUT_FLAGS, {"type": Path, "dest": "out",
                          "help": "where to write (default: RUN/report.html)"}),
        ],
    )  # fmt: skip
    add_result_command(
        sub, "compare", run_compare,
        help="one page comparing several runs: metrics side by side, overlaid curves",
        arguments=[
            (("runs",), {"type": Path, "nargs": "+", "help": "two or more run folders"}),
            (_OUT_FLAGS, {"type": Path, "dest": "out", "help": "where to write (default: "
                          "compare.html in the folder holding the runs)"}),
        ],
    )  # fmt: skip


def _page_result(path: Path, run_dirs: list[Path]) -> dict[str, Any]:
    from pretune.report import load_run
    from pretune.report.compare import comparison

    runs = [load_run(d) for d in run_dirs]
    status = ["finished" if r.finished else "not finished" for r in runs]
    recipes = [r.recipe for r in runs]
    return {"output": str(path), **comparison(runs), "recipes": recipes, "status": status}


def _page_blocks(result: dict[str, Any]) -> list[Block]:
    table = Table(["", *result["runs"]], title=f"written {result['output']}")
    table.rows.append(["recipe", *result["recipes"]])
    table.rows.append(["status", *result["status"]])
    metrics = list(result["metrics"].items())
    for label, values in metrics[:_SHOWN]:
        table.rows.append([label, *map(fmt, values)])
    more = f"; {len(metrics) - _SHOWN} more measures on the page (--json: all)"
    return [table, f"{len(metrics)} measures{more if len(metrics) > _SHOWN else ''}"]


def run_report(args: argparse.Namespace) -> int:
    from pretune.report import write_report

    path = write_report(args.run, args.out)
    return emit(_page_result(path, [args.run]), args.json, _page_blocks)


def run_compare(args: argparse.Namespace) -> int:
    from pretune.report import write_compare

    path = write_compare(args.runs, args.out)
    return emit(_page_result(path, list(args.runs)), args.json, _page_blocks)
