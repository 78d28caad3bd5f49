"""The run folder (docs/architecture.md): a run's config, log, checkpoints, model, summary.

runs/<name>/
  config.yaml      fully resolved config
  metrics.jsonl    one JSON object per logged step / evaluation
  checkpoints/     step-N/ (resumable) and best/ (best validation weights); once the run
                   finishes, only best/ where it differs from model/ (see finish_run_folder)
  model/           final model + tokenizer, Hugging Face format
  summary.json     final metrics, timings, environment
  run.lock         while a process trains into the folder (train/run_lock.py)
"""

from __future__ import annotations

import errno
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from pretune.config import RunConfig, load_config, save_config
from pretune.errors import CheckpointError
from pretune.files import fsync_dir, remove_folder, writing
from pretune.train.checkpoint import list_checkpoints
from pretune.train.run_lock import acquire_run_lock, hold_run_lock, write_lock_file

__all__ = [
    "create_run_dir",
    "disk_needed",
    "environment",
    "finish_run_folder",
    "is_main_process",
    "open_run_for_resume",
    "warn_if_short_of_space",
]

_PACKAGES = ("pretune", "torch", "transformers", "datasets", "accelerate", "tokenizers")


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a multi-process (torchrun / accelerate) run."""
    return int(os.environ.get("RANK", "0")) == 0


def create_run_dir(config: RunConfig, recipe: str, *, lock: bool = False) -> Path:
    """Make a new run folder holding `config.yaml` (and, with `lock`, this process's
    `run.lock`); the name is `config.name` or `<recipe>-<date>-<time>`.

    The folder is filled under a temporary name and renamed into place, so it appears with its
    config (and lock) or not at all: a process killed meanwhile never leaves a folder that is
    neither resumable nor free. In a multi-process run all processes share one folder: the
    name must be given (the `--nproc` launcher sets it), and the main process writes the config.
    """
    output_dir = Path(config.output_dir)
    with writing(output_dir, then="e.g. output_dir=<another folder>"):
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return _shared_run_dir(config, output_dir, lock)
        output_dir.mkdir(parents=True, exist_ok=True)
        tmp = output_dir / f".new-run-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "checkpoints").mkdir(parents=True)
        save_config(config, tmp / "config.yaml")
        if lock:
            write_lock_file(tmp)
        try:
            run_dir = _rename_to_free_name(tmp, output_dir, config.name, recipe)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if lock:
        hold_run_lock(run_dir)
    return run_dir


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _shared_run_dir(config: RunConfig, output_dir: Path, lock: bool) -> Path:
    if not config.name:
        raise CheckpointError(
            "a multi-process run needs a run name shared by all processes: add name=<run>"
        )
    run_dir = output_dir / config.name
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    if is_main_process():
        if lock:
            acquire_run_lock(run_dir, log=_to_stderr)  # stdout is for results
        tmp = run_dir / f".config.yaml.tmp-{os.getpid()}"
        save_config(config, tmp)
        os.replace(tmp, run_dir / "config.yaml")
    return run_dir


def _rename_to_free_name(tmp: Path, output_dir: Path, name: str | None, recipe: str) -> Path:
    """Rename `tmp` to `name` (an error if taken) or `<recipe>-<date>-<time>[-N]`."""
    base = name or f"{recipe}-{time.strftime('%Y%m%d-%H%M%S')}"
    for suffix in range(1, 1000):
        run_dir = output_dir / (base if suffix == 1 else f"{base}-{suffix}")
        taken = run_dir.exists() and any(run_dir.iterdir())
        if not taken:
            try:
                os.rename(tmp, run_dir)  # fails if another process filled it meanwhile
                fsync_dir(output_dir)
                return run_dir
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        if name:  # an explicit name must not silently become another folder
            raise CheckpointError(
                f"run folder {run_dir} already exists; resume it with --resume {run_dir}, "
                f"or choose another name (e.g. name={name}-2)"
            )
    raise CheckpointError(f"{output_dir} holds too many runs named {base}; choose a name")


def open_run_for_resume(run_dir: Path, schema: type[RunConfig] = RunConfig) -> RunConfig:
    """The saved config of an unfinished run folder, or a CheckpointError saying why not."""
    if not run_dir.is_dir():
        raise CheckpointError(f"--resume {run_dir}: no such folder")
    if not (run_dir / "config.yaml").is_file():
        raise CheckpointError(
            f"--resume {run_dir}: not a pretune run folder (no config.yaml); give the folder "
            "that `pretune finetune` printed, e.g. runs/finetune-20260101-120000"
        )
    if (run_dir / "summary.json").is_file():
        raise CheckpointError(
            f"--resume {run_dir}: this run already finished (summary.json exists); "
            "start a new run to train more"
        )
    return load_config(run_dir / "config.yaml", schema=schema)


def finish_run_folder(run_dir: Path, *, keep_checkpoints: bool, best_in_model: bool) -> None:
    """Tidy a finished run: drop the resumable `checkpoints/step-N/` folders (weights plus
    optimizer state; a finished run is not resumed), and `checkpoints/best/` when `model/`
    holds exactly those weights. With `keep_checkpoints` both stay: resuming a checkpoint
    needs the best weights it refers to (a run continued by hand, e.g. with more steps)."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return
    doomed = [p for p in folder.iterdir() if p.name.startswith((".tmp-", ".old-"))]
    if not keep_checkpoints:
        doomed += list_checkpoints(run_dir)
        if best_in_model:
            doomed.append(folder / "best")
    for path in doomed:
        remove_folder(path)
    if not any(folder.iterdir()):
        folder.rmdir()


# Optimizer state per trainable parameter, in parameter-sized copies (Adam, AdamW: 2 moments).
OPTIMIZER_COPIES = 2


def disk_needed(model: Any, keep_checkpoints: int) -> int:
    """Bytes a run of `model` writes at most: `keep_checkpoints + 1` checkpoints (the newest is
    written before the oldest is dropped), each the weights plus the optimizer state of the
    trainable ones, then the best weights and `model/`:

        (keep + 1) * (W + 2 * T) + 2 * W      W: all weights, T: trainable ones (bytes)
    """
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return (keep_checkpoints + 1) * (weights + OPTIMIZER_COPIES * trainable) + 2 * weights


def warn_if_short_of_space(run_dir: Path, needed: int, log: Callable[[str], Any]) -> None:
    """A warning (training goes on) when the run folder's disk has less free space than
    `needed` bytes: better now than a failed checkpoint write hours later."""
    try:
        free = shutil.disk_usage(run_dir).free
    except OSError:
        return
    if free < needed:
        log(
            f"warning: {run_dir} is on a disk with {free / 1e6:,.0f} MB free; this run may "
            f"write up to {needed / 1e6:,.0f} MB (checkpoints, best weights, model): free some "
            "space, lower train.keep_checkpoints, or set output_dir= to a larger disk"
        )


def environment() -> dict[str, Any]:
    """Package versions and machine facts saved with every run (reproducibility)."""
    import torch

    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "packages": versions,
    }
