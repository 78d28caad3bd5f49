"""Fixtures of the technique tests: a tiny finished teacher run for distillation."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune

TEACHER_SETTINGS = ("name=teacher", "model.max_length=32", "train.batch_size=8",
                    "train.max_steps=30", "train.num_threads=1", "train.checkpoint_every=0",
                    "train.lr=5e-3")  # fmt: skip


@pytest.fixture(scope="session")
def tiny_teacher(tiny_csv: Path, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished `pretune finetune` run on `tiny_csv` (its labels), to distil from."""
    out = tmp_path_factory.mktemp("teacher-run")
    cfg = load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, *TEACHER_SETTINGS))
    return Path(run_finetune(cfg, log=lambda _: None, live_progress=False)["run_dir"])
