"""How much a command prints: `--quiet`, `--verbose`, or `PRETUNE_LOG_LEVEL`.

- quiet: the `error:` line and the result (stdout) only; progress, notes and warnings, which
  all go to stderr, are dropped while the command runs.
- normal (the default): progress and notes on stderr, warnings on one line each.
- verbose: also pretune's debug log (`pretune.*` loggers) and transformers' info log and load
  reports, and warnings with their source.

The flags are accepted before or after the command (`pretune -q finetune`, `pretune finetune
... --quiet`); `--nproc` processes inherit the level through the environment variable.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Iterator

from pretune.errors import PretuneError

__all__ = ["ENV_VAR", "LEVELS", "add_log_flags", "log_level", "output_for"]

ENV_VAR = "PRETUNE_LOG_LEVEL"
LEVELS = ("quiet", "normal", "verbose")


def add_log_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """`-q/--quiet` and `-v/--verbose` on `parser`. On a command's parser they default to
    SUPPRESS, so they do not undo the same flag given before the command."""
    group = parser.add_mutually_exclusive_group()
    default = None if top else argparse.SUPPRESS
    group.add_argument(
        "-q", "--quiet", dest="log_level", action="store_const", const="quiet", default=default,
        help=f"print only errors and the final result (or {ENV_VAR}=quiet)",
    )  # fmt: skip
    group.add_argument(
        "-v", "--verbose", dest="log_level", action="store_const", const="verbose",
        default=default, help=f"also print debug detail (or {ENV_VAR}=verbose)",
    )  # fmt: skip


def log_level(flag: str | None) -> str:
    """The level: the flag if given, else `PRETUNE_LOG_LEVEL`, else normal."""
    level = flag or os.environ.get(ENV_VAR, "").strip().lower() or "normal"
    if level not in LEVELS:
        raise PretuneError(f"{ENV_VAR}={level}: use one of {', '.join(LEVELS)}")
    return level


class _MutedStream(io.TextIOBase):
    """Stands in for stderr while a quiet command runs. A logging handler created meanwhile
    keeps a reference to it, so once the command is over it passes writes through again."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.muted = True

    def write(self, text: str) -> int:
        return len(text) if self.muted else self.real.write(text)  # type: ignore[attr-defined]

    def flush(self) -> None:
        if not self.muted:
            self.real.flush()  # type: ignore[attr-defined]

    def isatty(self) -> bool:  # no live progress bar into the void
        return False

    def fileno(self) -> int:  # for code that asks (faulthandler); writes there are not muted
        return self.real.fileno()  # type: ignore[attr-defined]

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", None) or "utf-8"


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # Warnings are for the user (e.g. "cannot stratify"), not source excerpts.
    print(f"warning: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def output_for(level: str, debug: bool = False) -> Iterator[None]:
    """Apply `level` to what the command prints, and put everything back afterwards (the
    command may run inside another program, e.g. a test)."""
    saved_env = {name: os.environ.get(name) for name in (ENV_VAR, "TRANSFORMERS_VERBOSITY")}
    os.environ[ENV_VAR] = level  # processes started by --nproc inherit it
    # Read by transformers when it is first imported: its load reports off unless verbose (a
    # user's own TRANSFORMERS_VERBOSITY wins).
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info" if level == "verbose" else "error")
    logger = logging.getLogger("pretune")
    saved_level, handler = logger.level, None
    stderr = sys.stderr
    muted = _MutedStream(stderr) if level == "quiet" else None
    with warnings.catch_warnings():
        if level == "verbose":
            handler = logging.StreamHandler(stderr)
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
        elif not debug:
            warnings.showwarning = _one_line_warning
        if muted is not None:
            sys.stderr = muted
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            if muted is not None:
                sys.stderr, muted.muted = stderr, False
            if handler is not None:
                logger.removeHandler(handler)
            logger.setLevel(saved_level)
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
