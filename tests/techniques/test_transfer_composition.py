"""Techniques compose: mixup + adversarial training (FGM) + label smoothing + LoRA + EMA in one
run, and the loss falls. Pieces owned by other modules are skipped with a reason if absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune
from pretune.techniques import TECHNIQUES


def _loss_registry():
    try:
        from pretune.tasks.losses import LOSSES
    except ImportError:
        return None
    return LOSSES


@pytest.mark.slow
def test_mixup_fgm_label_smoothing_lora_ema_together(tiny_csv, tiny_bert, tmp_path) -> None:
    missing = [name for name in ("mixup", "fgm", "lora", "ema") if name not in TECHNIQUES]
    losses = _loss_registry()
    if losses is None or "label_smoothing" not in losses:
        missing.append("label_smoothing loss")
    if missing:
        pytest.skip(f"not registered yet: {', '.join(missing)}")
    # ema is listed after lora on purpose: LoRA merges last whatever the order.
    cfg = load_config(
        None,
        tiny_overrides(
            tiny_csv, tiny_bert, tmp_path, "name=all", "model.max_length=32",
            "train.max_steps=45", "train.lr=2e-2", "train.log_every=1", "train.num_threads=1",
            "train.loss=label_smoothing", "techniques.mixup.alpha=0.2",
            "techniques.fgm.epsilon=0.1", "techniques.lora.r=8",
            # the tiny model is random, not pre-trained: adapters on the word embeddings too
            "techniques.lora.target_modules=[query,value,word_embeddings]",
            "techniques.ema.decay=0.8",
        ),
    )  # fmt: skip
    summary = run_finetune(cfg, log=lambda _: None)
    run = Path(summary["run_dir"])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r["loss"] for r in records if r["split"] == "train"]
    assert len(train) == 45
    first, last = sum(train[:10]) / 10, sum(train[-10:]) / 10
    # mixup and label smoothing keep the training loss high; it still falls clearly
    assert last < first - 0.03, f"loss did not fall: {first:.3f} -> {last:.3f}"
    assert summary["test"]["accuracy"] > 0.45  # chance is 1/3

    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(run / "model"))
    assert not any("lora" in name for name, _ in model.named_parameters())
