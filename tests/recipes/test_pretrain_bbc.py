"""Pre-training learns on real text: MLM loss falls on BBC News (tiny preset, ~100 steps)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pretune.config import load_config
from pretune.recipes.catalog import recipe_spec
from pretune.recipes.pretrain import run_pretrain

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_mlm_loss_falls_on_bbc_text(tmp_path):
    spec = recipe_spec("pretrain")
    overrides = [
        "data.source=bbc",
        "data.max_train_examples=300",
        f"output_dir={tmp_path}",
        "model.max_length=64",
        "pretrain.vocab_size=2000",
        "train.max_steps=100",
        "train.batch_size=16",
        "train.lr=2e-3",
        "train.warmup_steps=10",
        "train.log_every=1",
        "train.num_threads=1",
        "eval.batch_size=128",
    ]
    cfg = load_config(None, overrides, defaults=spec.defaults, schema=spec.schema)
    summary = run_pretrain(cfg, log=lambda *_: None)
    log = [json.loads(line) for line in (Path(summary["run_dir"]) / "metrics.jsonl").open()]
    train = [r["loss"] for r in log if r["split"] == "train"]
    first, last = sum(train[:5]) / 5, sum(train[-10:]) / 10
    assert first > math.log(2000) - 0.5  # starts near uniform guessing over the vocabulary
    assert last < first - 0.8, (first, last)
    assert summary["validation"]["loss"] < first - 0.8
    assert summary["validation"]["accuracy"] > 0.02  # better than chance (1/2000)
