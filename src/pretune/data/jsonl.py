"""Reading JSON Lines files the same way everywhere: blank lines skipped, a line that is not
JSON named by `path:line` in the error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pretune.errors import DataError

__all__ = ["json_lines"]


def json_lines(path: Path) -> Iterator[tuple[Any, str, int]]:
    """(record, "path:line", line number) for every non-blank line of `path`."""
    with Path(path).open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{where}: not valid JSON ({exc})") from exc
            yield record, where, lineno
