"""Options and guards shared by the deployment commands (quantize, export, prune, serve)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from pretune.errors import ConfigError

__all__ = ["check_output", "parse_options", "require"]


def parse_options(items: list[str], allowed: dict[str, type]) -> dict[str, Any]:
    """`["amount=0.3", "method=heads"]` -> typed dict; unknown keys or bad values: ConfigError."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise ConfigError(
                f"unexpected argument '{item}': use key=value with keys {', '.join(allowed)}"
            )
        try:
            options[key] = allowed[key](value)
        except ValueError:
            raise ConfigError(f"{key}={value}: not a valid {allowed[key].__name__}") from None
    return options


def check_output(output: Path, source: Path) -> Path:
    """Refuse to overwrite the run's own model folder."""
    from pretune.runs import find_model_dir  # imports torch: not needed to parse options

    if output.resolve() == find_model_dir(source).resolve():
        raise ConfigError(f"output={output} is the run's own model folder; choose another")
    return output


def require(module: str, command: str) -> None:
    """A clear error (not an ImportError traceback) when an optional package is missing."""
    if importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{command} needs the '{module}' package: pip install 'pretune[deploy]' "
            "(or `make install`)"
        )
