"""Data-parallel training on CPU: two gloo processes match one process on the same global
batch, and a checkpoint written by two processes resumes on one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import tiny_overrides

pytestmark = pytest.mark.slow

SETTINGS = ("train.batch_size=8", "train.max_steps=6", "train.checkpoint_every=2",
            "train.eval_every=2", "train.num_threads=1", "train.keep_checkpoints=5")  # fmt: skip


@pytest.fixture(scope="module")
def no_dropout_bert(tiny_bert, tmp_path_factory) -> Path:
    # Dropout masks depend on how rows are split across processes; without dropout the maths
    # of 1 x 8 rows and 2 x 4 rows is the same up to float rounding.
    folder = tmp_path_factory.mktemp("tiny-bert-nodrop")
    shutil.copytree(tiny_bert, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _pretune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pretune", *args],
        capture_output=True, text=True, timeout=400, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "model.safetensors"))


def _assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=2e-5, rtol=1e-4, msg=name)


@pytest.fixture(scope="module")
def single(tiny_csv, no_dropout_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single")
    done = _pretune(
        "finetune", *tiny_overrides(tiny_csv, no_dropout_bert, out, "name=one", *SETTINGS)
    )
    assert done.returncode == 0, done.stderr
    return out / "one"


def test_two_processes_match_one_on_the_same_global_batch(
    single, tiny_csv, no_dropout_bert, tmp_path
):
    args = tiny_overrides(tiny_csv, no_dropout_bert, tmp_path, "name=two", *SETTINGS)
    done = _pretune("finetune", "--nproc", "2", *args)
    assert done.returncode == 0, done.stderr
    _assert_close(_weights(single), _weights(tmp_path / "two"))
    # One folder, written once: the main process alone logs and saves.
    log = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len([r for r in log if '"validation"' in r]) == 3


def test_checkpoint_of_two_processes_resumes_on_one(single, tiny_csv, no_dropout_bert, tmp_path):
    args = tiny_overrides(tiny_csv, no_dropout_bert, tmp_path, "name=moved", *SETTINGS)
    killed = _pretune("finetune", "--nproc", "2", *args, env={"PRETUNE_KILL_AFTER_CHECKPOINT": "4"})
    assert killed.returncode != 0
    run = tmp_path / "moved"
    assert (run / "checkpoints" / "step-4" / "manifest.json").is_file()
    assert not (run / "model").exists()
    resumed = _pretune("finetune", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    _assert_close(_weights(single), _weights(run))
