"""Disk footprint: a finished run keeps `model/` and the best weights only where they differ from
it; the resumable checkpoints (weights plus optimizer state) go unless
`train.keep_checkpoints_at_end`; a run warns before it starts when its disk is too small."""

from __future__ import annotations

import shutil
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.hpo.space import parse_space
from pretune.hpo.study import SearchSpec, run_search
from pretune.recipes.finetune import run_finetune
from pretune.train.run_folder import disk_needed, warn_if_short_of_space

STEPS = ("model.max_length=32", "train.max_steps=4", "train.checkpoint_every=2",
         "train.eval_every=2", "train.num_threads=1")  # fmt: skip


def _train(tiny_csv: Path, tiny_bert: Path, out: Path, *extra: str) -> Path:
    cfg = load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, "name=run", *STEPS, *extra))
    return Path(run_finetune(cfg, log=lambda _: None)["run_dir"])


def _tree(run: Path) -> list[str]:
    return sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_dir())


def test_a_finished_run_keeps_the_model_and_drops_checkpoints_and_the_same_best(
    tiny_csv, tiny_bert, tmp_path
):
    run = _train(tiny_csv, tiny_bert, tmp_path)
    assert _tree(run) == ["model"]  # best/ held exactly model/'s weights; step-N/ went
    assert sorted(p.name for p in run.iterdir() if p.is_file()) == [
        "config.yaml", "metrics.jsonl", "report.html", "summary.json"
    ]  # fmt: skip


def test_keep_checkpoints_at_end_keeps_the_resumable_ones(tiny_csv, tiny_bert, tmp_path):
    run = _train(tiny_csv, tiny_bert, tmp_path, "train.keep_checkpoints_at_end=true")
    # step-4 is the end (model/ is written instead); best/ stays with the checkpoint that
    # refers to it.
    assert _tree(run) == ["checkpoints", "checkpoints/best", "checkpoints/step-2", "model"]


def test_best_weights_that_differ_from_the_model_are_kept(tiny_csv, tiny_bert, tmp_path):
    # LoRA merges its adapters into model/: the best weights (adapters apart) differ from it.
    run = _train(tiny_csv, tiny_bert, tmp_path, "techniques.lora.r=2")
    best = load_file(str(run / "checkpoints" / "best" / "model.safetensors"))
    model = load_file(str(run / "model" / "model.safetensors"))
    assert any("lora" in name for name in best) and not any("lora" in name for name in model)
    assert not any(p.startswith("checkpoints/step-") for p in _tree(run))


def test_disk_needed_counts_checkpoints_with_optimizer_state_best_and_model() -> None:
    model = torch.nn.Linear(4, 3)  # 12 + 3 float32 values: 60 bytes
    model.bias.requires_grad_(False)  # trainable: 48 bytes, with 2 Adam moments each
    per_checkpoint = 60 + 2 * 48
    assert disk_needed(model, keep_checkpoints=2) == 3 * per_checkpoint + 2 * 60


def test_a_disk_smaller_than_the_run_needs_is_warned_about(tmp_path, monkeypatch) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    lines: list[str] = []
    warn_if_short_of_space(tmp_path, 6 * 10**6, lines.append)
    warn_if_short_of_space(tmp_path, 4 * 10**6, lines.append)  # enough: nothing said
    assert lines == [
        f"warning: {tmp_path} is on a disk with 5 MB free; this run may write up to 6 MB "
        "(checkpoints, best weights, model): free some space, lower train.keep_checkpoints, or "
        "set output_dir= to a larger disk"
    ]


@pytest.mark.parametrize("keep", [False, True])
def test_a_pruned_search_trial_keeps_no_checkpoints_unless_asked(tmp_path, keep) -> None:
    # A stand-in trial writes a checkpoint and reports a bad score at once: the median pruner
    # stops trial 2 (finished trials tidy themselves through the runner, tested above).
    def fake_run(cfg, log, live_progress, extra_handlers):
        value = 0.1 if cfg.name == "trial-2" else 0.9
        (tmp_path / "s" / cfg.name / "checkpoints" / "step-1").mkdir(parents=True)
        for step in (1, 2, 3):
            state = SimpleNamespace(step=step, eval_metrics={"accuracy": value})
            for handler in extra_handlers:
                handler.eval_end(state)
        return {"best_validation": {"value": value}, "test": {}}

    overrides = [f"output_dir={tmp_path}", "name=s", f"train.keep_checkpoints_at_end={keep}"]
    space = parse_space({"train.lr": {"type": "float", "low": 1e-4, "high": 1e-2}})
    spec = SearchSpec(search_dir=tmp_path / "s", space=space, trials=3, pruner="median")
    study = run_search(load_config(None, overrides), spec, log=lambda _: None, train_fn=fake_run)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert (tmp_path / "s" / "trial-2" / "checkpoints").exists() == keep
    assert (tmp_path / "s" / "trial-2" / "pruned.json").is_file()
