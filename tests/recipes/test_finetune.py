"""End-to-end fine-tuning on the tiny model: learning, the run folder, HF interop, predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import tiny_overrides
from pretune.cli.main import main
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune
from pretune.runs import predict_texts


@pytest.fixture(scope="module")
def finished_run(tiny_csv, tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(
        None,
        tiny_overrides(tiny_csv, tiny_bert, out, "name=learn", "train.epochs=6",
                       "train.eval_every=15", "train.checkpoint_every=15"),
    )  # fmt: skip
    return run_finetune(cfg, log=lambda _: None, live_progress=False)


def test_validation_loss_falls_and_model_beats_chance(finished_run):
    log = Path(finished_run["run_dir"]) / "metrics.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    evals = [r for r in records if r["split"] == "validation"]
    assert len(evals) >= 3
    assert evals[-1]["loss"] < evals[0]["loss"] - 0.1
    # chance is 1/3; the toy reaches 0.67 (two topics apart, the third merged with one of them)
    assert finished_run["test"]["accuracy"] > 0.45


def test_run_folder_is_complete(finished_run):
    run = Path(finished_run["run_dir"])
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "model/config.json"):
        assert (run / name).is_file(), name
    # model/ holds the best validation weights: their copy in checkpoints/best/ was dropped,
    # and so were the resumable checkpoints of the finished run.
    assert not (run / "checkpoints").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["sizes"] == {"train": 120, "validation": 15, "test": 15}
    assert summary["environment"]["packages"]["torch"]
    # The saved config is the resolved one: it reloads to what ran.
    assert load_config(run / "config.yaml").train.epochs == 6
    assert load_config(run / "config.yaml").model.init_from == summary_model(run)


def summary_model(run: Path) -> str:
    import yaml

    return yaml.safe_load((run / "config.yaml").read_text())["model"]["init_from"]


def test_saved_model_loads_with_plain_transformers(finished_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = f"{finished_run['run_dir']}/model"
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert sorted(model.config.id2label.values()) == ["money", "sport", "tech"]
    texts = ["goal match team league win", "bank shares market profit"]
    names, probs = predict_texts(
        finished_run["run_dir"] and __import__("pathlib").Path(model_dir).parent, texts
    )
    with torch.inference_mode():
        logits = model(**tokenizer(texts, return_tensors="pt", padding=True)).logits
    np.testing.assert_allclose(probs, torch.softmax(logits, -1).numpy(), atol=1e-5)
    assert names == [model.config.id2label[i] for i in range(3)]


def test_best_checkpoint_is_the_one_saved(finished_run):
    best = finished_run["best_validation"]
    assert best["metric"] == "accuracy" and best["step"] is not None


def test_predict_cli_writes_jsonl_and_csv(finished_run, tmp_path, capsys):
    inputs = tmp_path / "in.txt"
    inputs.write_text("goal match team league\nsoftware chip phone app\n", encoding="utf-8")
    assert (
        main(
            ["predict", finished_run["run_dir"], str(inputs), "--output", str(tmp_path / "p.jsonl")]
        )
        == 0
    )
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["goal match team league", "software chip phone app"]
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)
    assert (
        main(["predict", finished_run["run_dir"], str(inputs), "--output", str(tmp_path / "p.csv")])
        == 0
    )
    header = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert header.startswith("text,label,probability,p_")
