"""Exact resume: a run killed (SIGKILL) right after a checkpoint, then resumed, ends with the
same weights as a run that was never interrupted (CPU, deterministic mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from helpers import tiny_overrides
from pretune.train.checkpoint import list_checkpoints

pytestmark = pytest.mark.slow

# Two epochs of 15 batches with accumulation 2: checkpoints land mid-epoch (step 4 is batch 8
# of epoch 0) and the kill happens inside an accumulation-aware, length-grouped schedule.
# EMA keeps state of its own (the running average), which must be checkpointed as well.
COMMON = ("train.epochs=2", "train.grad_accum=2", "train.checkpoint_every=4",
          "train.eval_every=4", "train.keep_checkpoints=3", "train.num_threads=1",
          "techniques.ema.decay=0.9")  # fmt: skip


def _pretune(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pretune", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def _weights(run: Path) -> dict:
    return load_file(str(run / "model" / "model.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tiny_csv, tiny_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    done = _pretune(["finetune", *tiny_overrides(tiny_csv, tiny_bert, out, "name=whole", *COMMON)])
    assert done.returncode == 0, done.stderr
    return out / "whole"


def test_resume_after_sigkill_matches_uninterrupted_run(
    uninterrupted, tiny_csv, tiny_bert, tmp_path
):
    args = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "name=killed", *COMMON)
    killed = _pretune(["finetune", *args], env={"PRETUNE_KILL_AFTER_CHECKPOINT": "8"})
    assert killed.returncode == -9, killed.stderr  # died by SIGKILL, right after step-8
    run = tmp_path / "killed"
    assert [p.name for p in list_checkpoints(run)] == ["step-4", "step-8"]
    assert not (run / "model").exists()

    resumed = _pretune(["finetune", "--resume", str(run)])
    assert resumed.returncode == 0, resumed.stderr
    assert "from step-8" in resumed.stderr
    expected, got = _weights(uninterrupted), _weights(run)
    assert expected.keys() == got.keys()
    for name in expected:
        assert (expected[name] == got[name]).all(), f"{name} differs after resume"
    # The log reads as if never interrupted: same steps, losses and LRs (timings differ).
    assert _log(run) == _log(uninterrupted)


def _log(run: Path) -> list[tuple]:
    import json

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["split"], r["step"], r.get("loss"), r.get("lr"), r.get("accuracy")) for r in records]


def test_resume_skips_a_corrupted_checkpoint(uninterrupted, tiny_csv, tiny_bert, tmp_path):
    args = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "name=corrupt", *COMMON)
    killed = _pretune(["finetune", *args], env={"PRETUNE_KILL_AFTER_CHECKPOINT": "8"})
    assert killed.returncode == -9
    newest = tmp_path / "corrupt" / "checkpoints" / "step-8" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated, as by a full disk

    resumed = _pretune(["finetune", "--resume", str(tmp_path / "corrupt")])
    assert resumed.returncode == 0, resumed.stderr
    assert "step-8" in resumed.stderr and "corrupt" in resumed.stderr
    assert "from step-4" in resumed.stderr
    expected, got = _weights(uninterrupted), _weights(tmp_path / "corrupt")
    assert all((expected[k] == got[k]).all() for k in expected)
