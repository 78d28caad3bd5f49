"""`pretune prune RUN method=magnitude|heads|ffn|layers amount=0.3 [finetune_steps=N]
[curve=0.1,0.3,0.5,0.7] [output=DIR]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["register"]


def _amounts(text: str) -> list[float]:
    return [float(a) for a in text.split(",") if a.strip()]


OPTIONS = {
    "method": str, "amount": float, "finetune_steps": int, "output": Path, "curve": _amounts,
    "batch_size": int, "repeats": int, "max_examples": int,
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "prune",
        help="prune a run's model (magnitude, heads, ffn, layers); report accuracy, size, speed",
        description="Prune a run's model and save it (default <run>/model-pruned-<method>), or "
        "with curve=0.1,0.3,... measure accuracy/speed at each amount (JSON + PNG in "
        "<run>/prune-curves). Unstructured magnitude pruning and head zeroing do not make dense "
        "kernels faster; ffn and layers do.",
    )
    parser.add_argument("run", type=Path, help="a finished run folder")
    parser.add_argument("options", nargs="*", help=f"key=value: {', '.join(OPTIONS)}")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.deploy.options import parse_options
    from pretune.deploy.prune_run import prune_run, prune_sweep
    from pretune.errors import ConfigError
    from pretune.recipes.finetune import run_finetune

    options = parse_options(args.options, OPTIONS)
    method = options.pop("method", "magnitude")
    output = options.pop("output", None)
    if "curve" in options:
        if "finetune_steps" in options or "amount" in options:
            raise ConfigError("curve=... sweeps the amount without fine-tuning; drop amount= and "
                              "finetune_steps=, or drop curve=")  # fmt: skip
        report = prune_sweep(args.run, method, options.pop("curve"), output, **options)
    else:
        amount = options.pop("amount", 0.3)
        report = prune_run(args.run, method, amount, output, train_fn=run_finetune, **options)
    print(json.dumps(report, indent=2))
    return 0
