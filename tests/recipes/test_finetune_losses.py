"""The loss, head initialisation and dropout settings reach a real fine-tuning run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune


@pytest.mark.slow
def test_focal_loss_xavier_head_and_dropout_in_a_run(tiny_csv, tiny_bert, tmp_path):
    cfg = load_config(
        None,
        tiny_overrides(tiny_csv, tiny_bert, tmp_path, "name=focal", "train.max_steps=3",
                       "train.log_every=1", "train.loss=focal", "train.loss_params.gamma=2",
                       "train.class_weights=balanced", "model.init=xavier_normal",
                       "model.hidden_dropout=0.2", "model.attention_dropout=0.0",
                       "model.max_length=32", "train.num_threads=1"),
    )  # fmt: skip
    summary = run_finetune(cfg, log=lambda _: None, live_progress=False)
    run = Path(summary["run_dir"])
    losses = [json.loads(line).get("loss") for line in (run / "metrics.jsonl").open()]
    assert all(math.isfinite(x) for x in losses if x is not None)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["loss"] == "focal" and saved["train"]["loss_params"] == {"gamma": 2}
    model_config = json.loads((run / "model" / "config.json").read_text())
    assert model_config["hidden_dropout_prob"] == 0.2
    assert model_config["attention_probs_dropout_prob"] == 0.0
