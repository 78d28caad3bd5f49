"""`pretune config show RECIPE`: every field, its resolved value and one line of help."""

from __future__ import annotations

import argparse

from pretune.cli.common import add_group_action, split_config_and_overrides

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    show = add_group_action(
        sub,
        "config",
        "show",
        group_help="show a recipe's resolved config",
        help="print every field with its default and help",
    )
    show.add_argument("recipe", help="a recipe name, e.g. finetune or quickstart")
    show.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    show.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pretune.catalog import load_recipe_config
    from pretune.cli.output import print_config

    config_path, overrides = split_config_and_overrides(args.args)
    print_config(load_recipe_config(args.recipe, config_path, overrides))
    return 0
