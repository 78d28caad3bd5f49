"""The `pretune` command line.

Each command lives in its own module under `pretune.cli` with a `register(subparsers)` function
that adds its parser and sets `handler`; this file only assembles them and turns input errors
into one `error:` line and exit code 2 (`--debug` shows the traceback instead).

    pretune quickstart [key=value ...]
    pretune finetune [config.yaml] [key=value ...] [--resume RUN]
    pretune predict RUN INPUT|- [--output FILE]
    pretune config show RECIPE
    pretune config list | config write NAME [PATH] [--force]
    pretune data inspect SOURCE [--tokenizer MODEL] [key=value ...]

`-q/--quiet` and `-v/--verbose` (or PRETUNE_LOG_LEVEL) set how much every command prints
(cli/log_levels.py).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pretune.cli.log_levels import add_log_flags, log_level, output_for
from pretune.errors import PretuneError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

# One module per command (or command group), in the order `pretune --help` lists them.
COMMAND_MODULES = (
    "pretune.cli.recipes",  # one command per catalog recipe
    "pretune.cli.predict",
    "pretune.cli.config_show",
    "pretune.cli.data_inspect",
    "pretune.cli.tokenizer",
    "pretune.cli.generate",
    "pretune.cli.evaluate",
    "pretune.cli.cv",
    "pretune.cli.report",
    "pretune.cli.runs_list",
    "pretune.cli.lr_find",
    "pretune.cli.quantize",
    "pretune.cli.export",
    "pretune.cli.prune",
    "pretune.cli.serve",
    "pretune.cli.search",
    "pretune.cli.explain",
    "pretune.cli.ensemble",
    "pretune.cli.techniques",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pretune", description="Pre-train, fine-tune, evaluate and explain models."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    add_log_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for command in _command_parsers(parser):
        add_log_flags(command, top=False)
    return parser


def _command_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every command's parser, actions of groups included (`config show`)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in dict.fromkeys(action.choices.values()):  # aliases share a parser
                found += [command, *_command_parsers(command)]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pretune` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    # Offline by default: a hub name that is not cached must fail fast, not hang.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        with output_for(log_level(args.log_level), debug=args.debug):
            return args.handler(args)
    except PretuneError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "interrupted; resume with --resume <run folder> if a checkpoint was written",
            file=sys.stderr,
        )
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
