"""`pretune ensemble RUN RUN ... [data=SOURCE] [--output FOLDER]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.cli.common import log_line
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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

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
    table = Table(title="test metrics", title_justify="left")
    for column in ("model", "accuracy", "macro-F1"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in result["members"]:
        table.add_row(row["run"], f"{row['accuracy']:.4f}", f"{row['macro_f1']:.4f}")
    ensemble = result["ensemble"]
    table.add_row(
        "[bold]ensemble[/bold]", f"{ensemble['accuracy']:.4f}", f"{ensemble['macro_f1']:.4f}"
    )
    console = Console()
    console.print(table)
    console.print(f"ensemble saved in [bold]{result['output']}[/bold] (pretune predict accepts it)")
    return 0
