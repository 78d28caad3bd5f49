"""`pretune finetune` and `pretune quickstart`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.cli.common import log_line, recipe_config
from pretune.train.run_folder import is_main_process

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    for name, help_text in (
        ("quickstart", "fine-tune MiniLM on BBC News and print the results"),
        ("finetune", "fine-tune a text classifier"),
    ):
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
        if name == "finetune":
            parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
        parser.add_argument(
            "--nproc", type=int, default=1, help="train with N processes on this machine (DDP)"
        )
        parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.cli.output import print_finetune_summary
    from pretune.recipes.finetune import run_finetune

    resume = getattr(args, "resume", None)
    cfg = recipe_config(args.command, args.args, resume)
    if args.nproc > 1:  # validated above, before any process starts
        return _relaunch(args)
    main_process = is_main_process()
    log = log_line if main_process else _silent
    summary = run_finetune(cfg, resume=resume, recipe=args.command, log=log)
    if main_process:
        print_finetune_summary(summary)
    return 0


def _silent(message: str) -> None:
    del message  # only the main process of a multi-process run reports


def _relaunch(args: argparse.Namespace) -> int:
    from pretune.cli.launch import launch_processes, with_run_name

    if args.resume is not None:
        return launch_processes(args.nproc, [args.command, "--resume", str(args.resume)])
    return launch_processes(args.nproc, [args.command, *with_run_name(args.command, args.args)])
