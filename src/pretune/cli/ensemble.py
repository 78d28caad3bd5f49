"""`pretune ensemble RUN RUN ... [data=SOURCE] [--output FOLDER]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line
from pretune.cli.output import Block, add_json_flag, emit, mapping_table
from pretune.errors import PretuneError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    help_text = "average the class probabilities of finished runs; score and save the ensemble"
    parser = sub.add_parser("ensemble", help=help_text, description=help_text)
    parser.add_argument(
        "args", nargs="+", help="run folders, then optionally data=<labelled test file>"
    )
    parser.add_argument(
        "--output", type=Path, help="ensemble folder (default: runs/ensemble-<date>-<time>)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def _blocks(result: dict[str, Any]) -> list[Block]:
    rows = {row["run"]: row for row in result["members"]} | {"ensemble": result["ensemble"]}
    return [
        mapping_table("test metrics", rows, ("accuracy", "macro_f1")),
        f"ensemble saved in {result['output']} (pretune predict accepts it)",
    ]


def run(args: argparse.Namespace) -> int:
    from pretune.deploy.ensemble import run_ensemble

    runs, data = [], None
    for item in args.args:
        if item.startswith("data="):
            data = item.removeprefix("data=")
        elif "=" in item:
            raise PretuneError(f"unexpected '{item}': only data=<source> is accepted")
        else:
            runs.append(Path(item))
    result = run_ensemble(runs, args.output, data, args.batch_size, log=log_line)
    return emit(result, args.json, _blocks)
