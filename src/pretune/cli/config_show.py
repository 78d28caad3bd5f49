"""`pretune config show RECIPE`: every field, its resolved value and one line of help;
`pretune config list`: the shipped YAML files; `pretune config write NAME [PATH]`: copy one out."""

from __future__ import annotations

import argparse
from pathlib import Path

from pretune.cli.common import add_group, split_config_and_overrides

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    actions = add_group(sub, "config", group_help="show, list and write configs")
    show = actions.add_parser("show", help="print every field of a recipe's resolved config")
    show.add_argument("recipe", help="a recipe name, e.g. finetune or quickstart")
    show.add_argument("args", nargs="*", help="config.yaml and/or key=value overrides")
    show.set_defaults(handler=run)
    listing = actions.add_parser("list", help="list the shipped YAML files, one line each")
    listing.set_defaults(handler=run_list)
    write = actions.add_parser(
        "write",
        help="write a shipped YAML file out to edit",
        description="Copy a shipped YAML (see `pretune config list`) to PATH, by default "
        "./NAME.yaml; a folder gets NAME.yaml inside it.",
    )
    write.add_argument("name", help="a name from `pretune config list`, e.g. finetune_csv")
    write.add_argument("path", nargs="?", type=Path, help="file or folder (default ./NAME.yaml)")
    write.add_argument("--force", action="store_true", help="overwrite an existing file")
    write.set_defaults(handler=run_write)


def run(args: argparse.Namespace) -> int:
    from pretune.catalog import load_recipe_config
    from pretune.cli.output import print_config

    config_path, overrides = split_config_and_overrides(args.args)
    print_config(load_recipe_config(args.recipe, config_path, overrides))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from pretune.catalog import shipped_configs

    configs = shipped_configs()
    width = max(len(config.name) for config in configs)
    for config in configs:
        print(f"{config.name:<{width}}  {config.description}")
    return 0


def run_write(args: argparse.Namespace) -> int:
    from pretune.catalog import write_shipped_config

    target = write_shipped_config(args.name, args.path, force=args.force)
    print(target)
    return 0
