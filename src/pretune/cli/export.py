"""`pretune export RUN [format=onnx] [output=DIR] [opset=17]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]

OPTIONS = {"format": str, "output": Path, "opset": int, "check_examples": int}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="export a fine-tuned classifier to ONNX, checked against PyTorch",
        description="Write <run>/model-onnx/ (model.onnx with dynamic batch and sequence axes, "
        "tokenizer, config.json) and print the largest logit difference from PyTorch on the "
        "run's test texts.",
    )
    parser.add_argument("run", type=Path, help="a finished run folder")
    parser.add_argument("options", nargs="*", help=f"key=value: {', '.join(OPTIONS)}")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.deploy.export_onnx import export_run
    from pretune.deploy.options import parse_options

    options = parse_options(args.options, OPTIONS)
    fmt = options.pop("format", "onnx")
    report = export_run(args.run, options.pop("output", None), fmt=fmt, **options)
    print(json.dumps(report, indent=2))
    return 0
