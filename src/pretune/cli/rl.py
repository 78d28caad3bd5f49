"""`pretune rl [config.yaml] model.init_from=RUN reward.classifier=RUN reward.label=L ...`;
`pretune rl --resume RUN` continues an unfinished run."""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.cli.common import log_line, recipe_config

__all__ = ["register"]

HELP = "RL fine-tuning of a causal LM against a reward, with a KL penalty (RLOO)"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rl", help=HELP, description=HELP)
    parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.recipes.rl import run_rl

    cfg = recipe_config("rl", args.args, args.resume)
    summary = run_rl(cfg, resume=args.resume, log=log_line)  # type: ignore[arg-type]
    first, last = summary["reward"]["first_steps_mean"], summary["reward"]["last_steps_mean"]
    print(
        f"training reward (mean of first / last {summary['reward']['window']} steps): "
        f"{first:.4f} -> {last:.4f}   KL: max {summary['kl']['max']:.4f}, "
        f"last {summary['kl']['last_steps_mean']:.4f}"
    )
    for key in ("start", "end"):
        ev = summary["evaluation"].get(key)
        if ev:
            print(f"held-out prompts ({key}): reward {ev['reward']:.4f}   KL {ev['kl']:.4f}")
    print(f"run saved in {summary['run_dir']}")
    return 0
