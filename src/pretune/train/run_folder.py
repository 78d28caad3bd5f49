"""The run folder (docs/architecture.md): a run's config, log, checkpoints, model, summary.

runs/<name>/
  config.yaml      fully resolved config
  metrics.jsonl    one JSON object per logged step / evaluation
  checkpoints/     step-N/ (resumable) and best/ (best validation weights)
  model/           final model + tokenizer, Hugging Face format
  summary.json     final metrics, timings, environment
"""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from pretune.config import RunConfig, load_config
from pretune.errors import CheckpointError

__all__ = ["create_run_dir", "environment", "is_main_process", "open_run_for_resume"]

_PACKAGES = ("pretune", "torch", "transformers", "datasets", "accelerate", "tokenizers")


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a multi-process (torchrun / accelerate) run."""
    return int(os.environ.get("RANK", "0")) == 0


def create_run_dir(config: RunConfig, recipe: str) -> Path:
    """Make a new, empty run folder; the name is `config.name` or `<recipe>-<date>-<time>`.

    In a multi-process run all processes share one folder: the name must be given (the
    `--nproc` launcher sets it), rank 0 creates it and the others use it.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if not config.name:
            raise CheckpointError(
                "a multi-process run needs a run name shared by all processes: add name=<run>"
            )
        run_dir = Path(config.output_dir) / config.name
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        return run_dir
    name = config.name or f"{recipe}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(config.output_dir) / name
    if run_dir.exists() and any(run_dir.iterdir()):
        suffix = 2
        while (Path(config.output_dir) / f"{name}-{suffix}").exists():
            suffix += 1
        if config.name:  # an explicit name must not silently become another folder
            raise CheckpointError(
                f"run folder {run_dir} already exists; resume it with --resume {run_dir}, "
                f"or choose another name (e.g. name={name}-{suffix})"
            )
        run_dir = Path(config.output_dir) / f"{name}-{suffix}"
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    return run_dir


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
