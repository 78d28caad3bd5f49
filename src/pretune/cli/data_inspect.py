"""`pretune data inspect SOURCE`."""

from __future__ import annotations

import argparse

from pretune.cli.common import split_config_and_overrides

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="look at a data source before training")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    inspect = actions.add_parser("inspect", help="sizes, labels, lengths, duplicates, overlap")
    inspect.add_argument("source", help="built-in name, file or folder")
    inspect.add_argument("--tokenizer", help="count lengths in tokens of this model (e.g. minilm)")
    inspect.add_argument("args", nargs="*", help="data.* key=value overrides")
    inspect.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.cli.output import inspect_source

    _, overrides = split_config_and_overrides(args.args)
    inspect_source(args.source, args.tokenizer, overrides)
    return 0
