"""Is a checkpoint intact? Its files against its manifest (sizes, sha256), and the newest
intact checkpoint of a run, skipping (and reporting) corrupted newer ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pretune.errors import CheckpointError
from pretune.train.checkpoint_files import (
    MANIFEST_NAME,
    REQUIRED_FILES,
    checkpoints_dir,
    list_checkpoints,
    sha256_of,
)

__all__ = ["latest_intact_checkpoint", "verify_checkpoint"]

logger = logging.getLogger("pretune.train.checkpoint")


def _read_manifest_files(path: Path) -> dict[str, Any]:
    """The manifest's ``files`` table of checkpoint folder `path` (CheckpointError if unusable)."""
    if not path.is_dir():
        raise CheckpointError(
            f"checkpoint {path} not found; check the path or list the run's checkpoints/ folder"
        )
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise CheckpointError(
            f"checkpoint {path} is incomplete: {MANIFEST_NAME} is missing (the save was "
            "probably interrupted); resume from an earlier checkpoint or delete this folder"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is corrupted: {MANIFEST_NAME} is unreadable ({exc}); resume "
            "from an earlier checkpoint or delete this folder"
        ) from exc
    for name in REQUIRED_FILES:
        if name not in files:
            raise CheckpointError(
                f"checkpoint {path} is corrupted: {MANIFEST_NAME} does not list {name}; "
                "resume from an earlier checkpoint or delete this folder"
            )
    return files


def _check_listed_file(path: Path, name: Any, entry: Any) -> None:
    """CheckpointError unless file `name` of folder `path` matches its manifest `entry`."""
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise CheckpointError(
            f"checkpoint {path} is corrupted: {MANIFEST_NAME} lists an invalid file name "
            f"{name!r}; delete this folder"
        )
    file = path / name
    try:
        expected_size = int(entry["size"])
        expected_sha = str(entry["sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is corrupted: {MANIFEST_NAME} entry for {name} is "
            f"unreadable ({exc}); resume from an earlier checkpoint or delete this folder"
        ) from exc
    if not file.is_file():
        raise CheckpointError(
            f"checkpoint {path} is corrupted: {name} is missing; resume from an earlier "
            "checkpoint or delete this folder"
        )
    size = file.stat().st_size
    if size != expected_size:
        raise CheckpointError(
            f"checkpoint {path} is corrupted: {name} has {size} bytes, expected "
            f"{expected_size}; resume from an earlier checkpoint or delete this folder"
        )
    if sha256_of(file) != expected_sha:
        raise CheckpointError(
            f"checkpoint {path} is corrupted: {name} does not match its sha256 checksum; "
            "resume from an earlier checkpoint or delete this folder"
        )


def verify_checkpoint(path: Path) -> None:
    """Check a checkpoint folder against its manifest.

    Args:
        path: A ``step-<N>`` folder.

    Raises:
        CheckpointError: If the folder or its manifest is missing or unreadable, a required or
            listed file is missing, or a file's size or sha256 differs from the manifest.
    """
    path = Path(path)
    for name, entry in _read_manifest_files(path).items():
        _check_listed_file(path, name, entry)


def latest_intact_checkpoint(
    run_dir: Path, warn: Callable[[str], None] | None = None
) -> Path | None:
    """Find the newest checkpoint that passes `verify_checkpoint`.

    Args:
        run_dir: The run folder.
        warn: Called once per corrupted checkpoint newer than the one returned, with a message
            naming the folder, what is wrong and which checkpoint is used instead. Defaults to
            logging a warning.

    Returns:
        The newest intact checkpoint folder, or None if the run has no checkpoints at all.

    Raises:
        CheckpointError: If checkpoints exist but none is intact.
    """
    report = warn if warn is not None else logger.warning
    problems: list[str] = []
    for candidate in reversed(list_checkpoints(run_dir)):
        try:
            verify_checkpoint(candidate)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            report(f"{problem}; using the previous checkpoint {candidate} instead")
        return candidate
    if not problems:
        return None
    raise CheckpointError(
        f"no intact checkpoint in {checkpoints_dir(run_dir)}: "
        + " | ".join(problems)
        + "; start a new run instead of resuming"
    )
