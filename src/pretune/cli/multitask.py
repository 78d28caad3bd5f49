"""`pretune multitask [config.yaml] [key=value ...] [--resume RUN]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line, recipe_config

__all__ = ["print_multitask_summary", "register"]

HELP = "train several tasks (classify heads, auxiliary MLM) on one shared encoder"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("multitask", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
    parser.set_defaults(handler=run)


def print_multitask_summary(summary: dict[str, Any]) -> None:
    """One line of test metrics per task, then where the heads were saved."""
    for name, task in summary["tasks"].items():
        test = task.get("test") or {}
        if task["kind"] == "classify" and test:
            shown = f"accuracy {test['accuracy']:.4f}   macro-F1 {test['macro_f1']:.4f}"
        elif test:
            shown = f"masked-token accuracy {test['accuracy']:.4f}   loss {test['loss']:.4f}"
        else:
            shown = "no test split"
        print(f"test {name} ({task['kind']}, weight {task['weight']:g}): {shown}")
    timing = summary["timing"]
    print(f"{summary['steps']} steps in {timing['train_seconds']:.1f}s")
    print(f"run saved in {summary['run_dir']} (one model folder per head under model/)")


def run(args: argparse.Namespace) -> int:
    from pretune.recipes.multitask import run_multitask

    cfg = recipe_config("multitask", args.args, args.resume)
    summary = run_multitask(cfg, resume=args.resume, log=log_line)  # type: ignore[arg-type]
    print_multitask_summary(summary)
    return 0
