"""`pretune runs [FOLDER] [--sort KEY] [--json]`: one table of the runs in a runs folder."""

from __future__ import annotations

import argparse
from typing import Any

from pretune.cli.output import Block, Table, add_result_command, duration, emit, fmt

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    add_result_command(
        sub, "runs", run,
        help="list the runs in a folder: recipe, start, status, main metric, duration",
        description="List the run folders in FOLDER (default: runs): name, recipe, start time "
        "(UTC), status (finished, running: a live process holds run.lock, interrupted: no "
        "summary.json), the recipe's main metric and how long it ran.",
        arguments=[
            (("folder",), {"nargs": "?", "default": None,
                           "help": "the folder holding run folders (default: runs)"}),
            (("--sort",), {"default": "started", "metavar": "KEY",
                           "help": "started (default), name, recipe, status, duration, or a "
                           "metric (accuracy, f1, loss, perplexity...: best first)"}),
        ],
    )  # fmt: skip


def _blocks(rows: list[dict[str, Any]]) -> list[Block]:
    if not rows:
        return ["no runs (no folder with a config.yaml)"]
    table = Table(["name", "recipe", "started (UTC)", "status", "metric", "duration"])
    for row in rows:
        shown = f"{row['metric']} {fmt(row['value'])}" if row["metric"] else "-"
        table.rows.append([row["name"], row["recipe"], row["started"], row["status"], shown,
                           duration(row["duration_s"])])  # fmt: skip
    counts = {
        s: sum(r["status"] == s for r in rows) for s in ("finished", "running", "interrupted")
    }
    return [table, ", ".join(f"{n} {s}" for s, n in counts.items() if n)]


def run(args: argparse.Namespace) -> int:
    from pretune.run_list import DEFAULT_RUNS_ROOT, list_runs

    rows = list_runs(args.folder or DEFAULT_RUNS_ROOT, args.sort)
    return emit([r.to_dict() for r in rows], args.json, _blocks)
