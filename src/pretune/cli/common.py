"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pretune.errors import PretuneError

__all__ = ["log_line", "split_config_and_overrides"]


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
