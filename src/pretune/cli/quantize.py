"""`pretune quantize RUN [output=DIR] [batch_size=32] [repeats=3] [max_examples=N] [threads=N]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.common import add_run_command, report_handler

__all__ = ["register"]

OPTIONS = {
    "output": Path, "batch_size": int, "repeats": int, "max_examples": int, "threads": int,
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    add_run_command(
        sub,
        "quantize",
        OPTIONS,
        report_handler(quantize, OPTIONS),
        summary="dynamic int8 quantisation for CPU; reports accuracy change and speed-up",
        description="Quantise a run's Linear layers to int8 (dynamic), save the model folder "
        "(default <run>/model-int8, usable by `pretune predict` and `pretune serve`) and print "
        "accuracy and examples/s of float32 vs int8 on the run's test split as JSON.",
    )


def quantize(run: Path, options: dict[str, Any]) -> dict[str, Any]:
    from pretune.deploy.quantize import quantize_run

    return quantize_run(run, options.pop("output", None), **options)
