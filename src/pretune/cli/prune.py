"""`pretune prune RUN method=magnitude|heads|ffn|layers amount=0.3 [finetune_steps=N]
[curve=0.1,0.3,0.5,0.7] [output=DIR]`.

prune a run's model (magnitude, heads, ffn, layers); report accuracy, size, speed

Prune a run's model and save it (default <run>/model-pruned-<method>), or with curve=0.1,0.3,...
measure accuracy/speed at each amount (JSON + PNG in <run>/prune-curves). Unstructured magnitude
pruning and head zeroing do not make dense kernels faster; ffn and layers do.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.output import add_run_report_command

__all__ = ["register"]


def _amounts(text: str) -> list[float]:
    return [float(a) for a in text.split(",") if a.strip()]


OPTIONS = {
    "method": str, "amount": float, "finetune_steps": int, "output": Path, "curve": _amounts,
    "batch_size": int, "repeats": int, "max_examples": int,
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    add_run_report_command(sub, "prune", OPTIONS, prune, __doc__)


def prune(run: Path, options: dict[str, Any]) -> dict[str, Any]:
    from pretune.deploy.prune_run import prune_run, prune_sweep
    from pretune.errors import ConfigError
    from pretune.recipes.finetune import run_finetune

    method = options.pop("method", "magnitude")
    output = options.pop("output", None)
    if "curve" in options:
        if "finetune_steps" in options or "amount" in options:
            raise ConfigError("curve=... sweeps the amount without fine-tuning; drop amount= and "
                              "finetune_steps=, or drop curve=")  # fmt: skip
        return prune_sweep(run, method, options.pop("curve"), output, **options)
    amount = options.pop("amount", 0.3)
    return prune_run(run, method, amount, output, train_fn=run_finetune, **options)
