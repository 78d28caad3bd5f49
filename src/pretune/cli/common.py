"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pretune.errors import PretuneError

__all__ = ["log_line", "recipe_config", "run_must_exist", "split_config_and_overrides"]


def split_config_and_overrides(items: Sequence[str]) -> tuple[str | None, list[str]]:
    """`[a.yaml, x=1]` -> ("a.yaml", ["x=1"]); anything else that is not key=value is an error."""
    config, overrides = None, []
    for item in items:
        if "=" in item:
            overrides.append(item)
        elif config is None and item.endswith((".yaml", ".yml")):
            config = item
        else:
            raise PretuneError(
                f"unexpected argument '{item}': give a config file (.yaml) and key=value overrides"
            )
    return config, overrides


def log_line(message: str) -> None:
    """Progress messages go to stderr, so stdout stays clean for results."""
    print(message, file=sys.stderr, flush=True)


def recipe_config(recipe: str, items: Sequence[str], resume: Path | None = None) -> Any:
    """The validated config of `pretune <recipe> [config.yaml] [key=value ...]`: the recipe's
    defaults, then the file, then the overrides. With `--resume` the run's saved config is used,
    so a config file or overrides alongside it are an error (they would be silently ignored)."""
    from pretune.catalog import load_recipe_config
    from pretune.catalog import recipe as catalog_entry

    config_path, overrides = split_config_and_overrides(items)
    if resume is not None:
        if config_path or overrides:
            raise PretuneError(
                "--resume continues a run with its saved config; drop the config file and overrides"
            )
        from pretune.train.run_folder import open_run_for_resume  # torch: only to resume

        return open_run_for_resume(resume, schema=catalog_entry(recipe).schema)
    return load_recipe_config(recipe, config_path, overrides)


def add_run_command(
    sub: Any,
    name: str,
    options: dict[str, Any],
    handler: Any,
    *,
    summary: str,
    description: str,
    run_help: str = "a finished run folder",
) -> None:
    """Register `pretune <name> RUN [key=value ...]`: the shape of every command that reads a
    finished run (quantize, export, prune, serve); `options` maps each key to its type."""
    parser = sub.add_parser(name, help=summary, description=description)
    parser.add_argument("run", type=Path, help=run_help)
    parser.add_argument("options", nargs="*", help=f"key=value: {', '.join(options)}")
    parser.set_defaults(handler=run_must_exist(handler))


def run_must_exist(handler: Any, argument: str = "run") -> Any:
    """`handler`, after the cheap check that the run folder (`args.<argument>`) exists: a typo
    is answered at once, before the command imports torch and the model code."""

    def checked(args: Any) -> int:
        run = Path(getattr(args, argument))
        if not run.exists():
            raise PretuneError(f"{run}: no such run folder; give a finished run folder")
        return handler(args)

    return checked


def print_report(report: dict[str, Any]) -> int:
    """Print a command's JSON report on stdout (progress went to stderr); exit status 0."""
    import json

    print(json.dumps(report, indent=2))
    return 0


def report_handler(command: Any, allowed: dict[str, Any]) -> Any:
    """The argparse handler of a command that reads a run and prints a JSON report:
    `key=value` options parsed and typed by `allowed`, then `command(run, options) -> report`."""

    def handler(args: Any) -> int:
        from pretune.deploy.options import parse_options

        return print_report(command(args.run, parse_options(args.options, allowed)))

    return handler


def add_group_action(
    sub: Any, group: str, action: str, *, group_help: str, help: str, **kwargs: Any
) -> Any:
    """Register `pretune <group> <action>` (`data inspect`): the group's parser with a
    required ACTION, and return the action's parser for its arguments."""
    return add_group(sub, group, group_help=group_help).add_parser(action, help=help, **kwargs)


def add_group(sub: Any, group: str, *, group_help: str) -> Any:
    """Register `pretune <group> ACTION` and return its subparsers, to add several actions
    (`config show`, `config list`, `config write`)."""
    parser = sub.add_parser(group, help=group_help)
    return parser.add_subparsers(dest=f"{group}_command", required=True, metavar="ACTION")
