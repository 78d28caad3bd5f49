"""`pretune techniques`: every technique, optimizer, schedule and loss, one line each."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from pretune.cli.output import Block, Table, add_json_flag, emit

__all__ = ["catalogue", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    help_text = "list techniques, optimizers, LR schedules and losses"
    parser = sub.add_parser("techniques", help=help_text, description=help_text)
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def catalogue() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, how to configure, [(name, one-line help)]) for each registry that exists."""
    from pretune.techniques import TECHNIQUES
    from pretune.train.optim import OPTIMIZERS, SCHEDULES

    sections = [
        ("techniques", "techniques.<name>.<param>=...", TECHNIQUES.describe()),
        ("optimizers", "train.optimizer=<name>", OPTIMIZERS.describe()),
        ("LR schedules", "train.schedule=<name>", SCHEDULES.describe()),
    ]
    losses = _optional_registry(("pretune.tasks.losses", "pretune.losses"), "LOSSES")
    if losses is not None:
        sections.append(("losses", "train.loss=<name>", losses.describe()))
    return sections


def _optional_registry(modules: tuple[str, ...], attribute: str) -> Any:
    for module in modules:
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            continue
    return None


def run(args: argparse.Namespace) -> int:
    result = {title: {"configure": how, "entries": dict(entries)}
              for title, how, entries in catalogue()}  # fmt: skip
    return emit(result, args.json, _blocks)


def _blocks(result: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [
        Table(["name", "what it does"], [list(e) for e in section["entries"].items()],
              f"{title}  ({section['configure']})")
        for title, section in result.items()
    ]  # fmt: skip
    return [*blocks, "details and when to use each: docs/techniques.md"]
