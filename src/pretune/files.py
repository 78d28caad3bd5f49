"""Writing files so that a reader (or a crash) never sees half of one, and reading them back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pretune.errors import CheckpointError

__all__ = ["read_json", "write_json_atomic"]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path, advice: str) -> Any:
    """The JSON value in `path`.

    Raises:
        CheckpointError: the file cannot be read or is not JSON; the message names it, the
            reason and `advice` (what to do).
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not readable JSON ({exc}); {advice}") from exc
