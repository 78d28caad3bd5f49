"""Open a finished run folder: what commands that read runs share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pretune.errors import CheckpointError

__all__ = ["read_summary"]


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no summary.json: the run did not finish")
    return json.loads(path.read_text(encoding="utf-8"))
