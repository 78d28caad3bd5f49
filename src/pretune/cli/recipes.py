"""One command per catalog recipe: `pretune <recipe> [config.yaml] [key=value ...]`.

The verbs come from the catalog (`pretune.catalog.RECIPES`), so a new recipe gets its command,
its `--help`, `--resume` and `--nproc` by being listed there. The config is validated before
anything else happens (also before `--nproc` starts its processes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.catalog import RECIPES, recipe
from pretune.cli.common import log_line, recipe_config
from pretune.cli.output import add_json_flag
from pretune.cli.span_predict import PREDICT_COMMANDS

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    for entry in RECIPES.values():
        description = f"{entry.help}. Every setting: `pretune config show {entry.name}`."
        parser = sub.add_parser(entry.name, help=entry.help, description=description)
        usage = "config.yaml and/or key=value overrides"
        if entry.name in PREDICT_COMMANDS:
            usage += "; or: predict RUN INPUT"
            parser.add_argument("--output", type=Path, help="predict: write JSON lines here")
        parser.add_argument("args", nargs="*", help=usage)
        add_json_flag(parser)
        if entry.trains:
            parser.add_argument("--resume", type=Path, help="continue an unfinished run folder")
            parser.add_argument(
                "--nproc", type=int, default=1, help="train with N processes on this machine"
            )
        parser.set_defaults(handler=run, recipe=entry.name)


def run(args: argparse.Namespace) -> int:
    name = args.recipe
    if args.args and args.args[0] == "predict" and name in PREDICT_COMMANDS:
        return PREDICT_COMMANDS[name](args)
    resume = getattr(args, "resume", None)
    cfg = recipe_config(name, args.args, resume)
    if getattr(args, "nproc", 1) > 1:  # validated above, before any process starts
        return _relaunch(args)
    # Imported once the config is valid, not before: `--help` and a config error must not pay
    # for the summaries' and the run folder's imports (torch behind them).
    from pretune.cli.summaries import print_run_summary
    from pretune.train.run_folder import is_main_process

    main_process = is_main_process()
    entry = recipe(name)
    prefix = None if name == entry.schema.RECIPE else name  # quickstart-<date>-<time>
    summary = entry.run_function()(
        None if resume else cfg, resume=resume, log=log_line if main_process else _silent,
        folder_prefix=prefix,
    )  # fmt: skip
    if main_process:
        print_run_summary(name, summary, args.json)
    return 0


def _silent(message: str) -> None:
    del message  # only the main process of a multi-process run reports


def _relaunch(args: argparse.Namespace) -> int:
    from pretune.cli.launch import launch_processes, with_run_name

    if args.resume is not None:
        return launch_processes(args.nproc, [args.recipe, "--resume", str(args.resume)])
    return launch_processes(args.nproc, [args.recipe, *with_run_name(args.recipe, args.args)])
