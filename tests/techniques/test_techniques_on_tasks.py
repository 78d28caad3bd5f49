"""Every registered technique on every recipe that takes a `techniques:` section.

The matrix is read from the registry and from the recipe setups (`tests/recipe_setups.py`) at
collection time: a new technique is tried on NER, QA, image classification and MIM (a ViT), SFT,
RL, MLM/CLM pre-training, distillation and multi-task training without editing this file
(fine-tuning has its own, `test_every_technique.py`). Where the technique applies (its `tasks`
declaration includes the run's task kind, and no declaration conflicts), 3 steps must train
(finite losses, a saved model with finite weights); where it does not, the run must stop when
the config loads, with one ConfigError naming the technique.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from pretune.catalog import load_recipe_config
from pretune.catalog import recipe as catalog_entry
from pretune.errors import ConfigError
from pretune.techniques import TECHNIQUES
from recipe_setups import SETUPS, TinyFiles

from .test_every_technique import TECHNIQUE_PARAMS, technique_overrides

STEPS = ("train.max_steps=3", "train.log_every=1", "train.num_threads=1", "train.lr=1e-3",
         "train.warmup_ratio=0", "train.eval_every=0", "train.checkpoint_every=0")  # fmt: skip


@pytest.fixture(autouse=True)
def no_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reports are tested per recipe; here they would only add seconds to every cell.
    monkeypatch.setattr("pretune.recipes._runner.try_write_report", lambda *a, **k: None)


# The classifier-head pattern of TECHNIQUE_PARAMS names no parameter of the other tasks'
# models (QA, LM, images); freezing the biases applies to every model.
PARAMS = TECHNIQUE_PARAMS | {"freeze": {"freeze": ["*bias"]}}


def _run(recipe: str, overrides: list[str]) -> dict[str, Any]:
    cfg = load_recipe_config(recipe, None, overrides)
    return catalog_entry(recipe).run_function()(cfg, log=lambda *_: None, live_progress=False)


# fine-tuning: test_every_technique.py; the other setups repeat a recipe with other branches.
MATRIX = [s for s in SETUPS if s not in ("finetune", "pretrain-scratch", "images-cnn")]


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_csv, tiny_bert, tiny_lm, tiny_teacher) -> TinyFiles:
    return TinyFiles(tmp_path_factory.mktemp("setups"), tiny_csv, tiny_bert, tiny_lm,
                     tiny_teacher)  # fmt: skip


def _refusal(recipe: str, overrides: list[str]) -> ConfigError | None:
    try:
        load_recipe_config(recipe, None, overrides)
    except ConfigError as exc:
        return exc
    return None


@pytest.mark.parametrize("setup", MATRIX)
@pytest.mark.parametrize("name", TECHNIQUES.names())
def test_technique_trains_on_task_or_is_refused_clearly(
    name: str, setup: str, files: TinyFiles, tmp_path: Path
) -> None:
    recipe, overrides = SETUPS[setup](files)
    overrides += [f"output_dir={tmp_path / 'runs'}", "name=run", *STEPS]
    task_kind = load_recipe_config(recipe, None, overrides).task_kind
    table = {**PARAMS, "distill": {"teacher": str(files.teacher)}}
    overrides += technique_overrides(name, table)
    supported = TECHNIQUES.get(name).tasks
    refused = _refusal(recipe, overrides)
    if supported is not None and task_kind not in supported:
        assert refused is not None, f"{name} is declared for {sorted(supported)} only"
        assert task_kind in str(refused)
    if refused is not None:
        assert f"techniques.{name}" in str(refused) and "\n" not in str(refused)
        with pytest.raises(ConfigError):
            _run(recipe, overrides)
        assert not (tmp_path / "runs" / "run").exists()  # refused before anything was made
        return
    summary = _run(recipe, overrides)
    run = Path(summary["run_dir"])
    lines = (run / "metrics.jsonl").read_text().splitlines()
    losses = [r["loss"] for r in map(json.loads, lines) if "loss" in r and r.get("split") ==
              "train"]  # fmt: skip
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses), losses
    for path in (run / "model").rglob("model.safetensors"):
        weights = load_file(str(path))
        assert all(bool(v.isfinite().all()) for v in weights.values() if v.is_floating_point())
