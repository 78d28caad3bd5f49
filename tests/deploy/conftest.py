"""A finished tiny fine-tuning run shared by the deployment tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune


@pytest.fixture(scope="session")
def tiny_run(tiny_csv, tiny_bert, tmp_path_factory) -> Path:
    """A tiny BERT trained on the 3-label topics CSV (test split: 15 rows)."""
    out = tmp_path_factory.mktemp("deploy-runs")
    overrides = tiny_overrides(tiny_csv, tiny_bert, out, "name=d", "train.epochs=4")
    summary = run_finetune(load_config(None, overrides), log=lambda _: None, live_progress=False)
    return Path(summary["run_dir"])
