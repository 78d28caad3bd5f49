"""`pretune sft [config.yaml] data.source=pairs.jsonl model.init_from=RUN [key=value ...]`;
`pretune sft --resume RUN` continues an unfinished run."""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.cli.common import log_line, recipe_config

__all__ = ["register"]

HELP = "supervised fine-tuning of a causal LM on prompt/response pairs (loss on responses)"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sft", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.recipes.sft import run_sft

    cfg = recipe_config("sft", args.args, args.resume)
    summary = run_sft(cfg, resume=args.resume, log=log_line)  # type: ignore[arg-type]
    val = summary.get("validation") or {}
    if val:
        print(
            f"validation (response tokens): loss {val['loss']:.4f}   next-token accuracy "
            f"{val['accuracy']:.4f}   perplexity {val['perplexity']:.2f}"
        )
    print(
        f"{summary['steps']} steps in {summary['timing']['train_seconds']:.1f}s; "
        f'try: pretune generate {summary["run_dir"]} "your prompt"'
    )
    print(f"run saved in {summary['run_dir']}")
    return 0
