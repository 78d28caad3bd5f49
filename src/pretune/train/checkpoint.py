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

The code is in three modules: the files and folders (`checkpoint_files.py`), verification
(`checkpoint_verify.py`), and saving, loading and RNG state here; every public name is
importable from here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretune.errors import CheckpointError
from pretune.files import remove_folder, replace_folder
from pretune.train.checkpoint_files import (
    MANIFEST_NAME,
    MODEL_FILE,
    TRAINER_STATE_FILE,
    TRAINING_STATE_FILE,
    checkpoints_dir,
    fsync_dir,
    list_checkpoints,
    load_model_state,
    save_model_state,
    write_bytes_synced,
    write_manifest,
)
from pretune.train.checkpoint_verify import latest_intact_checkpoint, verify_checkpoint

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
        remove_folder(old)  # renamed aside first: never a half-deleted step-N left behind


def _write_checkpoint_files(
    tmp: Path,
    step: int,
    model_state: Mapping[str, torch.Tensor],
    training_state: dict[str, Any],
    trainer_json: bytes,
) -> None:
    """Write every file of a checkpoint into folder `tmp`, flushed, the manifest last."""
    save_model_state(tmp / MODEL_FILE, model_state)
    with open(tmp / TRAINING_STATE_FILE, "wb") as f:
        torch.save(training_state, f)
        f.flush()
        os.fsync(f.fileno())
    write_bytes_synced(tmp / TRAINER_STATE_FILE, trainer_json)
    write_manifest(tmp, step)
    fsync_dir(tmp)


@contextlib.contextmanager
def _written_whole(tmp: Path, final: Path) -> Iterator[Path]:
    """Yield the empty folder `tmp` to fill; then swap it in as `final`. On a failure `tmp` is
    removed, and an OSError (a full disk, no permission) names `final`, not a temporary file."""
    try:
        tmp.mkdir()
        yield tmp
        replace_folder(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(exc.errno, exc.strerror, str(final)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
        OSError: If a file cannot be written (full disk, no permission), naming the
            ``step-<N>`` folder; the previous checkpoints are left as they were.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if keep is not None and keep < 1:
        raise ValueError(f"keep must be >= 1 or None, got {keep}")
    folder = checkpoints_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _cleanup_leftovers(folder)

    trainer_json = json.dumps(trainer_state, indent=2, sort_keys=True).encode("utf-8")
    final = folder / f"step-{step}"
    with _written_whole(folder / f".tmp-step-{step}-{os.getpid()}", final) as tmp:
        _write_checkpoint_files(tmp, step, model_state, training_state, trainer_json)
    if keep is not None:
        _prune(run_dir, keep, protect)
    return final


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
