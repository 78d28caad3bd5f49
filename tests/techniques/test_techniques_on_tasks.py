"""Every registered technique on every task recipe that takes a `techniques:` section.

The matrix is read from the registry at collection time: a new technique is tried on NER, QA,
image classification and MIM (a ViT), SFT, RL and MLM/CLM pre-training without editing this
file. Where a technique's `tasks` declaration includes the task kind, 3 steps must train
(finite losses, a saved model with finite weights); where it does not, the run must stop
before training with one ConfigError naming the technique and the task kind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from pretune.catalog import load_recipe_config
from pretune.errors import ConfigError
from pretune.techniques import TECHNIQUES
from tiny_causal_lm import make_tiny_causal_lm
from toy_tasks import toy_conll, toy_squad

from .test_every_technique import TECHNIQUE_PARAMS, technique_overrides

STEPS = ("train.max_steps=3", "train.log_every=1", "train.num_threads=1", "train.lr=1e-3",
         "train.warmup_ratio=0", "train.eval_every=0", "train.checkpoint_every=0")  # fmt: skip


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny-gpt2"), layers=2)


@pytest.fixture(autouse=True)
def no_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reports are tested per recipe; here they would only add seconds to every cell.
    monkeypatch.setattr("pretune.recipes._runner.try_write_report", lambda *a, **k: None)


# The classifier-head pattern of TECHNIQUE_PARAMS names no parameter of the other tasks'
# models (QA, LM, images); freezing the biases applies to every model.
PARAMS = TECHNIQUE_PARAMS | {"freeze": {"freeze": ["*bias"]}}


def _technique_overrides(name: str) -> list[str]:
    return technique_overrides(name, PARAMS)


def _run(recipe: str, overrides: list[str]) -> dict[str, Any]:
    import importlib

    cfg = load_recipe_config(recipe, None, overrides)
    run = getattr(importlib.import_module(f"pretune.recipes.{recipe}"), f"run_{recipe}")
    return run(cfg, log=lambda *_: None, live_progress=False)


def _ner(tmp: Path, bert: Path, lm: Path) -> tuple[str, list[str]]:
    data = toy_conll(tmp / "toy.conll", 40, seed=0)
    return "ner", [f"data.source={data}", f"model.init_from={bert}", "model.max_length=32",
                   "train.batch_size=8"]  # fmt: skip


def _qa(tmp: Path, bert: Path, lm: Path) -> tuple[str, list[str]]:
    data = toy_squad(tmp / "toy.json", 40, seed=0)
    return "qa", [f"data.source={data}", f"model.init_from={bert}", "model.max_length=32",
                  "qa.stride=8", "train.batch_size=8"]  # fmt: skip


# A ViT: LoRA, layer-wise LR and unfreezing need its named attention layers.
TINY_VIT = ["model.arch=vit", "model.hidden_size=16", "model.num_layers=2", "model.num_heads=2",
            "model.intermediate_size=32", "model.patch_size=4", "data.max_train_examples=64",
            "train.batch_size=16"]  # fmt: skip


def _images(tmp: Path, bert: Path, lm: Path) -> tuple[str, list[str]]:
    return "images", [*TINY_VIT, "image.robustness.epsilons=[]"]


def _mim(tmp: Path, bert: Path, lm: Path) -> tuple[str, list[str]]:
    return "images", [*TINY_VIT, "objective=mim"]


def _sft(tmp: Path, bert: Path, lm: Path) -> tuple[str, list[str]]:
    pairs = tmp / "pairs.jsonl"
    rows = [{"prompt": "what is the colour of the sky?", "response": "blue"},
            {"prompt": "what is the colour of grass?", "response": "green"}] * 4  # fmt: skip
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return "sft", [f"data.source={pairs}", f"model.init_from={lm}", "data.val_fraction=0",
                   "model.max_length=32", "train.batch_size=4"]  # fmt: skip


def _rl(tmp: Path, bert: Path, lm: Path) -> tuple[str, list[str]]:
    prompts = tmp / "prompts.txt"
    prompts.write_text("the match\nwhat is\nthe sky is\nthe colour of\n")
    return "rl", [f"data.source={prompts}", f"model.init_from={lm}", "reward.keywords=[goal]",
                  "rl.max_new_tokens=4", "rl.samples_per_prompt=2", "rl.eval_prompts=0",
                  "train.batch_size=2"]  # fmt: skip


SENTENCE = "the team won the match on saturday with a late goal after rain"


def _pretrain(tmp: Path, model: Path, objective: str) -> tuple[str, list[str]]:
    text = tmp / "text.txt"
    words = [
        "the",
        "team",
        "won",
        "match",
        "on",
        "saturday",
        "with",
        "a",
        "late",
        "goal",
        "after",
        "rain",
    ]
    text.write_text("\n".join(" ".join(words[i:] + words[:i]) for i in range(len(words))))
    return "pretrain", [f"data.source={text}", f"model.init_from={model}", "model.max_length=32",
                        "train.batch_size=4", "data.val_fraction=0",
                        f"objective={objective}"]  # fmt: skip


TASK_SETUPS: dict[str, Callable[[Path, Path, Path], tuple[str, list[str]]]] = {
    "ner": _ner,
    "qa": _qa,
    "sft": _sft,
    "rl": _rl,
    "mlm": lambda tmp, bert, lm: _pretrain(tmp, bert, "mlm"),
    "clm": lambda tmp, bert, lm: _pretrain(tmp, lm, "clm"),
    "image-classify": _images,
    "mim": _mim,
}


@pytest.mark.parametrize("task", TASK_SETUPS)
@pytest.mark.parametrize("name", TECHNIQUES.names())
def test_technique_trains_on_task_or_is_refused_clearly(
    name: str, task: str, tiny_bert: Path, tiny_lm: Path, tmp_path: Path
) -> None:
    recipe, overrides = TASK_SETUPS[task](tmp_path, tiny_bert, tiny_lm)
    overrides += [f"output_dir={tmp_path / 'runs'}", "name=run", *STEPS]
    overrides += _technique_overrides(name)
    supported = TECHNIQUES.get(name).tasks
    if supported is not None and task not in supported:
        with pytest.raises(ConfigError) as info:
            _run(recipe, overrides)
        message = str(info.value)
        assert f"techniques.{name}" in message and task in message
        assert not (tmp_path / "runs" / "run" / "metrics.jsonl").exists()
        return
    summary = _run(recipe, overrides)
    run = Path(summary["run_dir"])
    lines = (run / "metrics.jsonl").read_text().splitlines()
    losses = [r["loss"] for r in map(json.loads, lines) if "loss" in r and r.get("split") ==
              "train"]  # fmt: skip
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses), losses
    weights = load_file(str(run / "model" / "model.safetensors"))
    assert all(bool(v.isfinite().all()) for v in weights.values() if v.is_floating_point())
