"""`pretune quantize RUN [output=DIR] [batch_size=32] [repeats=3] [max_examples=N] [threads=N]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]

OPTIONS = {
    "output": Path, "batch_size": int, "repeats": int, "max_examples": int, "threads": int,
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "quantize",
        help="dynamic int8 quantisation for CPU; reports accuracy change and speed-up",
        description="Quantise a run's Linear layers to int8 (dynamic), save the model folder "
        "(default <run>/model-int8, usable by `pretune predict` and `pretune serve`) and print "
        "accuracy and examples/s of float32 vs int8 on the run's test split as JSON.",
    )
    parser.add_argument("run", type=Path, help="a finished run folder")
    parser.add_argument("options", nargs="*", help=f"key=value: {', '.join(OPTIONS)}")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.deploy.options import parse_options
    from pretune.deploy.quantize import quantize_run

    options = parse_options(args.options, OPTIONS)
    report = quantize_run(args.run, options.pop("output", None), **options)
    print(json.dumps(report, indent=2))
    return 0
