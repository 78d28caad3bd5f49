"""`pretune export RUN [format=onnx] [output=DIR] [opset=17]`.

export a fine-tuned classifier to ONNX, checked against PyTorch

Write <run>/model-onnx/ (model.onnx with dynamic batch and sequence axes, tokenizer,
config.json) and print the largest logit difference from PyTorch on the run's test texts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.output import add_run_report_command

__all__ = ["register"]

OPTIONS = {"format": str, "output": Path, "opset": int, "check_examples": int}


def register(sub: argparse._SubParsersAction) -> None:
    add_run_report_command(sub, "export", OPTIONS, export, __doc__)


def export(run: Path, options: dict[str, Any]) -> dict[str, Any]:
    from pretune.deploy.export_onnx import export_run

    fmt = options.pop("format", "onnx")
    return export_run(run, options.pop("output", None), fmt=fmt, **options)
