"""Transfer strategies and memory options end to end on the tiny model."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune

FAST = ("train.max_steps=4", "model.max_length=32", "train.num_threads=1", "train.log_every=1")


def _run(tiny_csv: Path, tiny_bert: Path, out: Path, *extra: str) -> Path:
    cfg = load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, *FAST, *extra))
    return Path(run_finetune(cfg, log=lambda _: None)["run_dir"])


def _changed(run: Path, tiny_bert: Path) -> dict[str, bool]:
    start = load_file(str(tiny_bert / "model.safetensors"))
    end = load_file(str(run / "model" / "model.safetensors"))
    return {k: not torch.equal(end[k], start[k]) for k in end if k in start}


def test_lora_run_saves_a_plain_merged_model(tiny_csv, tiny_bert, tmp_path) -> None:
    from transformers import AutoModelForSequenceClassification

    run = _run(tiny_csv, tiny_bert, tmp_path, "name=lora", "techniques.lora.r=4")
    model = AutoModelForSequenceClassification.from_pretrained(str(run / "model"))
    names = [n for n, _ in model.named_parameters()]
    assert not any("lora" in n or "base_model" in n for n in names)
    changed = _changed(run, tiny_bert)
    # merged adapters changed query/value; key and the embeddings were frozen
    assert changed["bert.encoder.layer.0.attention.self.query.weight"]
    assert changed["bert.encoder.layer.1.attention.self.value.weight"]
    assert not changed["bert.encoder.layer.0.attention.self.key.weight"]
    assert not changed["bert.embeddings.word_embeddings.weight"]


def test_gradual_unfreeze_keeps_lower_layers_frozen_at_first(tiny_csv, tiny_bert, tmp_path):
    # 4 steps, one more group every 2 steps: the head, then layer 1; layer 0 never moves.
    # EMA composes: it averages the same parameter set throughout
    run = _run(
        tiny_csv, tiny_bert, tmp_path, "techniques.ema.decay=0.5",
        "techniques.gradual_unfreeze.every_steps=2",
    )  # fmt: skip
    changed = _changed(run, tiny_bert)
    assert changed["bert.encoder.layer.1.output.dense.weight"]
    assert not changed["bert.encoder.layer.0.output.dense.weight"]
    assert not changed["bert.embeddings.word_embeddings.weight"]


def test_linear_probe_trains_only_the_head(tiny_csv, tiny_bert, tmp_path) -> None:
    run = _run(tiny_csv, tiny_bert, tmp_path, "techniques.freeze.train=[classifier.*]")
    changed = _changed(run, tiny_bert)
    assert not any(changed.values())  # every backbone tensor is as loaded (the head is new)


def test_gradient_checkpointing_gives_the_same_weights(tiny_csv, tiny_bert, tmp_path) -> None:
    plain = _run(tiny_csv, tiny_bert, tmp_path, "name=plain")
    ckpt = _run(tiny_csv, tiny_bert, tmp_path, "name=ckpt", "model.gradient_checkpointing=true")
    a = load_file(str(plain / "model" / "model.safetensors"))
    b = load_file(str(ckpt / "model" / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


def test_bf16_autocast_trains_on_cpu(tiny_csv, tiny_bert, tmp_path) -> None:
    import json

    from accelerate.state import AcceleratorState

    # accelerate keeps one process-wide state; an earlier in-process run fixed precision "no".
    AcceleratorState._reset_state()
    run = _run(tiny_csv, tiny_bert, tmp_path, "train.mixed_precision=bf16")
    losses = [
        json.loads(line)["loss"]
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if '"train"' in line
    ]
    assert len(losses) == 4 and all(0 < loss < 10 for loss in losses)
    assert _changed(run, tiny_bert)["bert.encoder.layer.0.output.dense.weight"]
    AcceleratorState._reset_state()  # later in-process runs ask for "no" again
