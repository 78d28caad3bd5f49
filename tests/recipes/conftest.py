"""Fixtures of the multi-process tests (DDP, FSDP): a dropout-free tiny BERT and the
one-process run they are compared with, built once per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import MULTIPROCESS_SETTINGS, run_pretune_cli, tiny_overrides


@pytest.fixture(scope="session")
def no_dropout_bert(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Dropout masks depend on how rows are split across processes; without dropout the maths
    # of 1 x 8 rows and 2 x 4 rows is the same up to float rounding.
    folder = tmp_path_factory.mktemp("tiny-bert-nodrop")
    shutil.copytree(tiny_bert, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def single_process_run(
    tiny_csv: Path, no_dropout_bert: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The reference: one process, MULTIPROCESS_SETTINGS."""
    out = tmp_path_factory.mktemp("single")
    args = tiny_overrides(tiny_csv, no_dropout_bert, out, "name=one", *MULTIPROCESS_SETTINGS)
    done = run_pretune_cli("finetune", *args)
    assert done.returncode == 0, done.stderr
    return out / "one"
