"""`pretune predict RUN INPUT`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.cli.common import run_must_exist

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("predict", help="label texts with a trained run")
    parser.add_argument("run", type=Path, help="a finished run folder (or a model/ folder)")
    parser.add_argument("input", help="a file (txt/csv/tsv/jsonl/parquet) or - for stdin lines")
    parser.add_argument("--output", type=Path, help="write .csv or .jsonl (default: stdout)")
    parser.add_argument("--text-column", default="text", help="text column of a table input")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(handler=run_must_exist(run))


def run(args: argparse.Namespace) -> int:
    from pretune.deploy.predict import predict_to

    predict_to(args.run, args.input, args.output, args.text_column, args.batch_size)
    return 0
