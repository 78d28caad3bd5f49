"""User-facing errors.

Anything the user can fix (a missing file, a bad config value, a malformed row) raises
`PretuneError`; the CLI prints its message on one line and exits with the error's `exit_code`
(2 for bad input; a failed write, `files.WriteError`, 74; a run folder in use 75), without a
traceback unless `--debug` is given. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "DataError", "PretuneError"]


class PretuneError(Exception):
    """An error caused by the input, with a message that says what to do."""

    exit_code = 2


class ConfigError(PretuneError):
    """A bad config key or value."""


class DataError(PretuneError):
    """A missing, unreadable or inconsistent data source."""


class CheckpointError(PretuneError):
    """A missing, truncated or corrupted checkpoint or run folder."""
