"""Every registered technique, optimizer and schedule trains on the tiny model through
`run_finetune`; every technique also checkpoints, resumes in-process and ends with exactly the
weights of an uninterrupted run (as timm/composer test every registered entry).

The lists are read from the registries at collection time, so a new entry is tested without
editing this file. A technique that needs parameters gets them from TECHNIQUE_PARAMS; an
entry missing there is built with its defaults.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

import pretune.recipes.finetune as finetune
from helpers import Interrupted, StopAfterCheckpoint, tiny_overrides
from pretune.config import load_config
from pretune.techniques import TECHNIQUES
from pretune.train.checkpoint import list_checkpoints
from pretune.train.optim import OPTIMIZERS, SCHEDULES

# Parameters for techniques that cannot run with their defaults (or would be too slow).
TECHNIQUE_PARAMS: dict[str, dict[str, Any]] = {
    "freeze": {"train": ["*classifier*"]},
    "ema": {"decay": 0.9},
    "gradual_unfreeze": {"every_steps": 1},
    "layerwise_lr": {"decay": 0.8, "head_lr_multiplier": 2.0},
    "lora": {"r": 2},
}
# Steps 1-2, checkpoint, steps 3-4: the resume lands mid-epoch (15 batches per epoch).
FAST = ("train.max_steps=4", "train.checkpoint_every=2", "train.batch_size=8",
        "model.max_length=32", "train.num_threads=1", "train.keep_checkpoints=3",
        "train.lr=1e-3", "train.warmup_steps=1", "train.warmup_ratio=null")  # fmt: skip


def _config(tiny_csv: Path, tiny_bert: Path, out: Path, name: str, *extra: str):
    overrides = tiny_overrides(tiny_csv, tiny_bert, out, f"name={name}", *FAST, *extra)
    return load_config(None, overrides)


def technique_overrides(
    name: str, table: dict[str, dict[str, Any]] = TECHNIQUE_PARAMS
) -> list[str]:
    """CLI overrides that switch technique `name` on, with its parameters from `table`."""
    params = table.get(name, {})
    if not params:
        return [f"techniques.{name}=true"]
    return [f"techniques.{name}.{key}={value!r}".replace("'", "") for key, value in params.items()]


def _weights(run: Path) -> dict:
    return load_file(str(run / "model" / "model.safetensors"))


def _losses(run: Path) -> list[float]:
    import json

    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r["loss"] for r in map(json.loads, lines) if r.get("split") == "train"]


@pytest.mark.parametrize("name", TECHNIQUES.names())
def test_technique_trains_checkpoints_and_resumes_exactly(
    name, tiny_csv, tiny_bert, tmp_path, monkeypatch, request
) -> None:
    table = TECHNIQUE_PARAMS
    if TECHNIQUES.get(name).needs_teacher:  # a tiny finished run teaches (conftest.py)
        table = {name: {"teacher": str(request.getfixturevalue("tiny_teacher"))}}
    extra = [*technique_overrides(name, table), "train.log_every=1"]
    whole = finetune.run_finetune(
        _config(tiny_csv, tiny_bert, tmp_path, "whole", *extra), log=lambda _: None
    )
    assert whole["steps"] == 4
    assert all(math.isfinite(loss) for loss in _losses(Path(whole["run_dir"])))

    with pytest.raises(Interrupted):  # extra handlers come after the Checkpointer
        finetune.run_finetune(
            _config(tiny_csv, tiny_bert, tmp_path, "cut", *extra), log=lambda _: None,
            extra_handlers=[StopAfterCheckpoint(2)],
        )  # fmt: skip
    run = tmp_path / "cut"
    assert not (run / "model").exists()
    assert [p.name for p in list_checkpoints(run)] == ["step-2"]
    finetune.run_finetune(None, resume=run, log=lambda _: None)  # type: ignore[arg-type]

    expected, got = _weights(Path(whole["run_dir"])), _weights(run)
    assert expected.keys() == got.keys()
    for key in expected:
        assert (expected[key] == got[key]).all(), f"{name}: {key} differs after resume"
    assert _losses(run) == _losses(Path(whole["run_dir"]))


@pytest.mark.parametrize(
    ("kind", "name"),
    [("optimizer", n) for n in OPTIMIZERS.names()] + [("schedule", n) for n in SCHEDULES.names()],
)
def test_optimizer_and_schedule_train(kind, name, tiny_csv, tiny_bert, tmp_path) -> None:
    # adadelta's effective step is tiny at a usual LR; it is meant to run near lr=1.
    lr = "train.lr=1.0" if name == "adadelta" else "train.lr=1e-3"
    cfg = _config(
        tiny_csv, tiny_bert, tmp_path, "run", f"train.{kind}={name}", lr, "train.log_every=1",
        "train.max_steps=2", "train.checkpoint_every=0",
    )  # fmt: skip
    summary = finetune.run_finetune(cfg, log=lambda _: None)
    run = Path(summary["run_dir"])
    assert summary["steps"] == 2
    assert all(math.isfinite(loss) for loss in _losses(run))
    start = load_file(str(tiny_bert / "model.safetensors"))
    trained = _weights(run)
    key = "bert.encoder.layer.0.attention.self.query.weight"
    assert not (trained[key] == start[key]).all(), f"{kind} {name} did not change the weights"
