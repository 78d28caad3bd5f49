"""`pretune data inspect SOURCE`."""

from __future__ import annotations

import argparse

from pretune.cli.common import add_group_action, split_config_and_overrides

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    inspect = add_group_action(
        sub,
        "data",
        "inspect",
        group_help="look at a data source before training",
        help="sizes, labels, lengths, duplicates, overlap",
    )
    inspect.add_argument("source", help="built-in name, file or folder")
    inspect.add_argument("--tokenizer", help="count lengths in tokens of this model (e.g. minilm)")
    inspect.add_argument("args", nargs="*", help="data.* key=value overrides")
    inspect.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.cli.output import inspect_source

    _, overrides = split_config_and_overrides(args.args)
    inspect_source(args.source, args.tokenizer, overrides)
    return 0
