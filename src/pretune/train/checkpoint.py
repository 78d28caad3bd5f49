"""Atomic, verified checkpoints.

One checkpoint is a folder ``<run>/checkpoints/step-<N>/`` holding:

- ``model.safetensors``: the model's ``state_dict`` (safetensors, no pickle);
- ``training_state.pt``: optimizer, scheduler and RNG state, written with ``torch.save`` and read
  back only with ``torch.load(..., weights_only=True)``;
- ``trainer_state.json``: plain JSON given by the caller (step, epoch, data cursor, best metric...);
- ``manifest.json``: written last, with the byte size and sha256 of every other file.

A checkpoint is first written into ``checkpoints/.tmp-step-<N>-<pid>/`` and renamed into place
only once complete, so a crash mid-write leaves the previous checkpoints untouched and at most a
``.tmp-*`` folder, which is ignored and removed by the next save. A folder whose files do not match
its manifest is reported as corrupted, naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from pretune.errors import CheckpointError

__all__ = [
    "MANIFEST_NAME",
    "MODEL_FILE",
    "TRAINER_STATE_FILE",
    "TRAINING_STATE_FILE",
    "capture_rng_state",
    "latest_intact_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_model_state",
    "restore_rng_state",
    "save_checkpoint",
    "save_model_state",
    "verify_checkpoint",
]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
TRAINING_STATE_FILE = "training_state.pt"
TRAINER_STATE_FILE = "trainer_state.json"
MANIFEST_NAME = "manifest.json"
_REQUIRED_FILES = (MODEL_FILE, TRAINING_STATE_FILE, TRAINER_STATE_FILE)
_MANIFEST_FORMAT = 1
_STEP_RE = re.compile(r"^step-(\d+)$")
_CHUNK = 1 << 20


# --------------------------------------------------------------------------- file helpers


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Flush a directory entry (renames) to disk; a no-op where the OS does not allow it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_bytes_synced(path: Path, data: bytes) -> None:
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
        save_file(_prepare_for_safetensors(model_state), str(tmp), metadata={"format": "pt"})
        _fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)


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


# --------------------------------------------------------------------------- RNG state


def capture_rng_state() -> dict[str, Any]:
    """Capture torch (CPU and CUDA), Python ``random`` and NumPy global RNG states.

    The result holds only tensors, ints, floats, strings, lists and None, so it survives
    ``torch.save`` / ``torch.load(weights_only=True)``.

    Returns:
        A dict to pass to `restore_rng_state`.
    """
    version, internal, gauss_next = random.getstate()
    bit_generator, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    cuda: list[torch.Tensor] = []
    if torch.cuda.is_available():
        cuda = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "python": {
            "version": int(version),
            "state": [int(x) for x in internal],
            "gauss_next": None if gauss_next is None else float(gauss_next),
        },
        "numpy": {
            "bit_generator": str(bit_generator),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore RNG states captured by `capture_rng_state`.

    CUDA states are restored only when CUDA is available, for as many devices as both the
    saved state and this machine have. Missing sections are skipped.

    Args:
        state: The dict returned by `capture_rng_state` (possibly after a save/load round trip).
    """
    if "torch" in state:
        torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        for index in range(min(len(cuda_states), torch.cuda.device_count())):
            torch.cuda.set_rng_state(
                torch.as_tensor(cuda_states[index], dtype=torch.uint8).cpu(), index
            )
    if "python" in state:
        py = state["python"]
        random.setstate((py["version"], tuple(int(x) for x in py["state"]), py["gauss_next"]))
    if "numpy" in state:
        npst = state["numpy"]
        keys = torch.as_tensor(npst["keys"]).numpy().astype(np.uint32)
        np.random.set_state(
            (
                npst["bit_generator"],
                keys,
                int(npst["pos"]),
                int(npst["has_gauss"]),
                float(npst["cached_gaussian"]),
            )
        )


# --------------------------------------------------------------------------- checkpoints


def _checkpoints_dir(run_dir: Path) -> Path:
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
    folder = _checkpoints_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [
        (step, p) for p in folder.iterdir() if p.is_dir() and (step := _step_of(p)) is not None
    ]
    return [p for _, p in sorted(found)]


def _write_manifest(folder: Path, step: int) -> None:
    files = {}
    for name in sorted(p.name for p in folder.iterdir() if p.is_file()):
        if name == MANIFEST_NAME:
            continue
        file = folder / name
        files[name] = {"size": file.stat().st_size, "sha256": _sha256(file)}
    manifest = {"format": _MANIFEST_FORMAT, "step": step, "files": files}
    _write_bytes_synced(folder / MANIFEST_NAME, json.dumps(manifest, indent=2).encode("utf-8"))


def _cleanup_leftovers(folder: Path) -> None:
    """Remove ``.tmp-*`` / ``.old-*`` folders left behind by an interrupted save."""
    for entry in folder.iterdir():
        if entry.is_dir() and (entry.name.startswith(".tmp-") or entry.name.startswith(".old-")):
            logger.info("removing leftover folder %s from an interrupted save", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _prune(run_dir: Path, keep: int, protect: Sequence[str]) -> None:
    protected = {Path(p).name for p in protect}
    candidates = [p for p in list_checkpoints(run_dir) if p.name not in protected]
    for old in candidates[: max(len(candidates) - keep, 0)]:
        logger.info("removing old checkpoint %s", old)
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(
    run_dir: Path,
    step: int,
    *,
    model_state: Mapping[str, torch.Tensor],
    training_state: dict[str, Any],
    trainer_state: dict[str, Any],
    keep: int | None = 2,
    protect: Sequence[str] = (),
) -> Path:
    """Write a checkpoint atomically, then prune older ones.

    Everything is written and flushed into ``checkpoints/.tmp-step-<N>-<pid>/``, the manifest
    last, and the folder is then renamed to ``checkpoints/step-<N>``. An existing
    ``step-<N>`` is replaced safely (moved aside, new one renamed in, old one deleted).
    Leftover ``.tmp-*`` folders from interrupted saves are removed first.

    Args:
        run_dir: The run folder; ``checkpoints/`` is created inside it if needed.
        step: Global optimizer step, used in the folder name.
        model_state: The model's ``state_dict()``; tied tensors are fine.
        training_state: Optimizer/scheduler/RNG state. Must hold only tensors and plain
            Python containers/scalars, since it is loaded with ``weights_only=True``.
        trainer_state: JSON-serializable dict (step, epoch, data cursor, best metric...).
        keep: Keep at most this many ``step-*`` folders (besides protected ones), newest
            first; None keeps all.
        protect: Folder names (e.g. ``"step-200"`` for the best checkpoint) never pruned.
            Paths are accepted too; only their last component is used.

    Returns:
        The final checkpoint folder.

    Raises:
        ValueError: If ``step`` is negative or ``keep`` is smaller than 1.
        TypeError: If ``trainer_state`` is not JSON-serializable.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be >= 1 or None, got {keep}")
    folder = _checkpoints_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _cleanup_leftovers(folder)

    trainer_json = json.dumps(trainer_state, indent=2, sort_keys=True).encode("utf-8")
    pid = os.getpid()
    tmp = folder / f".tmp-step-{step}-{pid}"
    tmp.mkdir()
    try:
        save_model_state(tmp / MODEL_FILE, model_state)
        with open(tmp / TRAINING_STATE_FILE, "wb") as f:
            torch.save(training_state, f)
            f.flush()
            os.fsync(f.fileno())
        _write_bytes_synced(tmp / TRAINER_STATE_FILE, trainer_json)
        _write_manifest(tmp, step)
        _fsync_dir(tmp)

        final = folder / f"step-{step}"
        if final.exists():
            old = folder / f".old-step-{step}-{pid}"
            os.replace(final, old)
            os.replace(tmp, final)
            _fsync_dir(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
            _fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    if keep is not None:
        _prune(run_dir, keep, protect)
    return final


def verify_checkpoint(path: Path) -> None:
    """Check a checkpoint folder against its manifest.

    Args:
        path: A ``step-<N>`` folder.

    Raises:
        CheckpointError: If the folder or its manifest is missing or unreadable, a required or
            listed file is missing, or a file's size or sha256 differs from the manifest.
    """
    path = Path(path)
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
    for name in _REQUIRED_FILES:
        if name not in files:
            raise CheckpointError(
                f"checkpoint {path} is corrupted: {MANIFEST_NAME} does not list {name}; "
                "resume from an earlier checkpoint or delete this folder"
            )
    for name, entry in files.items():
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
        if _sha256(file) != expected_sha:
            raise CheckpointError(
                f"checkpoint {path} is corrupted: {name} does not match its sha256 checksum; "
                "resume from an earlier checkpoint or delete this folder"
            )


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
        f"no intact checkpoint in {_checkpoints_dir(run_dir)}: "
        + " | ".join(problems)
        + "; start a new run instead of resuming"
    )


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Verify and load a checkpoint onto the CPU.

    Args:
        path: A ``step-<N>`` folder.

    Returns:
        ``(model_state, training_state, trainer_state)``.

    Raises:
        CheckpointError: If verification fails or a file cannot be read; ``training_state.pt``
            holding anything other than tensors and plain data (arbitrary pickled objects) is
            refused.
    """
    path = Path(path)
    verify_checkpoint(path)
    model_state = load_model_state(path / MODEL_FILE)

    state_file = path / TRAINING_STATE_FILE
    try:
        training_state = torch.load(state_file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"cannot load {state_file}: it is damaged or holds objects other than tensors and "
            f"plain Python values ({exc.__class__.__name__}), which pretune refuses to unpickle "
            "(weights_only=True); use a checkpoint written by pretune"
        ) from exc
    if not isinstance(training_state, dict):
        raise CheckpointError(
            f"cannot load {state_file}: expected a dict, found {type(training_state).__name__}; "
            "use a checkpoint written by pretune"
        )

    trainer_file = path / TRAINER_STATE_FILE
    try:
        trainer_state = json.loads(trainer_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"cannot read {trainer_file} ({exc}); use another checkpoint"
        ) from exc
    if not isinstance(trainer_state, dict):
        raise CheckpointError(
            f"cannot read {trainer_file}: expected a JSON object; use another checkpoint"
        )
    return model_state, training_state, trainer_state
