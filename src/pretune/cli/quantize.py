"""`pretune quantize RUN [output=DIR] [batch_size=32] [repeats=3] [max_examples=N] [threads=N]`.

dynamic int8 quantisation for CPU; reports accuracy change and speed-up

Quantise a run's Linear layers to int8 (dynamic), save the model folder (default <run>/model-
int8, usable by `pretune predict` and `pretune serve`) and print the accuracy and examples/s of
float32 vs int8 on the run's test split (--json: as JSON).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.output import add_run_report_command

__all__ = ["register"]

OPTIONS = {
    "output": Path, "batch_size": int, "repeats": int, "max_examples": int, "threads": int,
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    add_run_report_command(sub, "quantize", OPTIONS, quantize, __doc__)


def quantize(run: Path, options: dict[str, Any]) -> dict[str, Any]:
    from pretune.deploy.quantize import quantize_run

    return quantize_run(run, options.pop("output", None), **options)
