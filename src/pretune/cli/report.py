"""`pretune report RUN` and `pretune compare RUN RUN ... [--output FILE]`."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    help_text = "write (or rewrite) a run's self-contained report.html"
    parser = sub.add_parser("report", help=help_text, description=help_text)
    parser.add_argument("run", type=Path, help="a run folder, e.g. runs/quickstart-20260101-1200")
    parser.add_argument("--output", type=Path, help="where to write (default: RUN/report.html)")
    parser.set_defaults(handler=run_report)

    help_text = "one page comparing several runs: metrics side by side, overlaid curves"
    parser = sub.add_parser("compare", help=help_text, description=help_text)
    parser.add_argument("runs", type=Path, nargs="+", help="two or more run folders")
    parser.add_argument(
        "--output", type=Path, default=Path("compare.html"), help="default: compare.html"
    )
    parser.set_defaults(handler=run_compare)


def run_report(args: argparse.Namespace) -> int:
    from pretune.report import write_report

    print(write_report(args.run, args.output))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from pretune.report import write_compare

    print(write_compare(args.runs, args.output))
    return 0
