"""`pretune pretrain objective=mlm|clm [config.yaml] [key=value ...] [--resume RUN]`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pretune.cli.common import log_line, recipe_config

__all__ = ["register"]

HELP = "pre-train a masked (mlm) or causal (clm) language model"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("pretrain", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
    parser.set_defaults(handler=run)


def print_pretrain_summary(summary: dict[str, Any]) -> None:
    """Validation metrics, padding and speed of a finished pre-training run."""
    val = summary.get("validation") or {}
    data, timing = summary["data"], summary["timing"]
    if val:
        print(
            f"validation ({summary['task']}): loss {val['loss']:.4f}   "
            f"{'masked-token' if summary['task'] == 'mlm' else 'next-token'} accuracy "
            f"{val['accuracy']:.4f}   perplexity {val['perplexity']:.2f}"
        )
    print(
        f"padding fraction {data['padding_fraction']:.2%} "
        f"({'packed' if data['packing'] else 'unpacked'}); {summary['steps']} steps in "
        f"{timing['train_seconds']:.1f}s ({timing['real_tokens_per_s']:.0f} real tokens/s)"
    )
    print(f"run saved in {summary['run_dir']}")


def run(args: argparse.Namespace) -> int:
    from pretune.recipes.pretrain import run_pretrain

    cfg = recipe_config("pretrain", args.args, args.resume)
    summary = run_pretrain(cfg, resume=args.resume, log=log_line)  # type: ignore[arg-type]
    print_pretrain_summary(summary)
    return 0
