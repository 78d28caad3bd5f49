"""`pretune techniques`: every technique, optimizer, schedule and loss, one line each."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

__all__ = ["catalogue", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    help_text = "list techniques, optimizers, LR schedules and losses"
    parser = sub.add_parser("techniques", help=help_text, description=help_text)
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
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for title, how, entries in catalogue():
        table = Table(title=f"{title}  ({how})", title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("what it does")
        for name, help_text in entries:
            table.add_row(name, help_text)
        console.print(table)
    console.print("details and when to use each: docs/techniques.md")
    return 0
