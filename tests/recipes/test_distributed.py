"""Data-parallel training on CPU: two gloo processes match one process on the same global
batch, and a checkpoint written by two processes resumes on one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import MULTIPROCESS_SETTINGS, run_pretune_cli, tiny_overrides

pytestmark = pytest.mark.slow

SETTINGS = MULTIPROCESS_SETTINGS


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "model.safetensors"))


def _assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=2e-5, rtol=1e-4, msg=name)


def test_two_processes_match_one_on_the_same_global_batch(
    single_process_run, tiny_csv, no_dropout_bert, tmp_path
):
    args = tiny_overrides(tiny_csv, no_dropout_bert, tmp_path, "name=two", *SETTINGS)
    done = run_pretune_cli("finetune", "--nproc", "2", *args)
    assert done.returncode == 0, done.stderr
    _assert_close(_weights(single_process_run), _weights(tmp_path / "two"))
    # One folder, written once: the main process alone logs and saves.
    log = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert len([r for r in log if '"validation"' in r]) == 3


def test_checkpoint_of_two_processes_resumes_on_one(
    single_process_run, tiny_csv, no_dropout_bert, tmp_path
):
    args = tiny_overrides(tiny_csv, no_dropout_bert, tmp_path, "name=moved", *SETTINGS)
    killed = run_pretune_cli(
        "finetune", "--nproc", "2", *args, env={"PRETUNE_KILL_AFTER_CHECKPOINT": "4"}
    )
    assert killed.returncode != 0
    run = tmp_path / "moved"
    assert (run / "checkpoints" / "step-4" / "manifest.json").is_file()
    assert not (run / "model").exists()
    resumed = run_pretune_cli("finetune", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    _assert_close(_weights(single_process_run), _weights(run))
