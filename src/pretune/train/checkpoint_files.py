"""The files of a checkpoint: their names, synced writes, the safetensors weights, the manifest
and the ``step-<N>`` folders of a run (see `checkpoint.py` for the format as a whole).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from pretune.errors import CheckpointError
from pretune.files import fsync_dir

__all__ = [
    "MANIFEST_NAME",
    "MODEL_FILE",
    "REQUIRED_FILES",
    "TRAINER_STATE_FILE",
    "TRAINING_STATE_FILE",
    "as_os_error",
    "checkpoints_dir",
    "fsync_dir",
    "fsync_file",
    "list_checkpoints",
    "load_model_state",
    "save_model_state",
    "sha256_of",
    "write_bytes_synced",
    "write_manifest",
]

MODEL_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
TRAINER_STATE_FILE = "trainer_state.json"
MANIFEST_NAME = "manifest.json"
REQUIRED_FILES = (MODEL_FILE, TRAINING_STATE_FILE, TRAINER_STATE_FILE)
_MANIFEST_FORMAT = 1
_STEP_RE = re.compile(r"^step-(\d+)$")
_CHUNK = 1 << 20
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_bytes_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _prepare_for_safetensors(model_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Make tensors safe for `save_file`: contiguous, and no two sharing memory.

    Tied weights (e.g. a BERT MLM decoder tied to the word embeddings) share storage, which
    `safetensors` refuses; such tensors, views into a larger storage and non-contiguous tensors
    are copied. Other tensors are passed through without a copy.
    """
    seen: set[tuple[str, int]] = set()
    out: dict[str, torch.Tensor] = {}
    for name, value in model_state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"model_state[{name!r}] is a {type(value).__name__}, not a tensor")
        tensor = value.detach()
        storage = tensor.untyped_storage()
        key = (str(tensor.device), storage.data_ptr())
        whole = tensor.storage_offset() == 0 and (
            tensor.numel() * tensor.element_size() == storage.nbytes()
        )
        if key in seen or not whole or not tensor.is_contiguous():
            tensor = tensor.contiguous().clone()
        else:
            seen.add(key)
        out[name] = tensor
    return out


def as_os_error(exc: Exception, path: Path) -> OSError | None:
    """The OSError (errno kept, naming `path`) inside a SafetensorError, which is how
    safetensors reports a full disk or a missing permission; None for other errors."""
    found = _OS_ERROR.search(str(exc)) if isinstance(exc, SafetensorError) else None
    if found is None:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(path))


def _save_safetensors(tensors: dict[str, torch.Tensor], tmp: Path, path: Path) -> None:
    try:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    except SafetensorError as exc:
        os_error = as_os_error(exc, path)
        if os_error is None:
            raise
        raise os_error from exc


def save_model_state(path: Path, model_state: Mapping[str, torch.Tensor]) -> None:
    """Write a state dict to one safetensors file, atomically.

    The file is written next to ``path`` under a temporary name, flushed to disk, then renamed
    over ``path``, so readers never see a half-written file. Shared (tied) tensors are copied so
    that each name gets its own data.

    Args:
        path: Destination ``.safetensors`` file.
        model_state: Mapping from parameter/buffer name to tensor (e.g. ``model.state_dict()``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        _save_safetensors(_prepare_for_safetensors(model_state), tmp, path)
        fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)


def load_model_state(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a safetensors file onto the CPU.

    Args:
        path: A ``.safetensors`` file.

    Returns:
        Mapping from name to tensor.

    Raises:
        CheckpointError: If the file is missing or is not a readable safetensors file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model weights {path} not found; check the path")
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:
        raise CheckpointError(
            f"cannot read model weights {path} ({exc}); the file is damaged or not a "
            "safetensors file: use another checkpoint"
        ) from exc


# --------------------------------------------------------------------------- step folders


def checkpoints_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def _step_of(path: Path) -> int | None:
    match = _STEP_RE.match(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """List the checkpoint folders of a run, oldest first.

    Only folders named ``step-<N>`` with a numeric ``N`` count; temporary ``.tmp-*`` folders
    and anything else are ignored. Folders are not verified (see `verify_checkpoint`).

    Args:
        run_dir: The run folder (holding ``checkpoints/``).

    Returns:
        Checkpoint folders sorted by step, ascending. Empty if there are none.
    """
    folder = checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [
        (step, p) for p in folder.iterdir() if p.is_dir() and (step := _step_of(p)) is not None
    ]
    return [p for _, p in sorted(found)]


def write_manifest(folder: Path, step: int) -> None:
    files = {}
    for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
        if name == MANIFEST_NAME:
            continue
        file = folder / name
        files[name] = {"size": file.stat().st_size, "sha256": sha256_of(file)}
    manifest = {"format": _MANIFEST_FORMAT, "step": step, "files": files}
    write_bytes_synced(folder / MANIFEST_NAME, json.dumps(manifest, indent=2).encode("utf-8"))
