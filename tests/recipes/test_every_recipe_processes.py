"""Two gloo processes match one process on the same global batch, for every recipe that trains
(or the recipe refuses several processes with a one-line reason). All the recipes run in one
torchrun launch of two processes, so the processes start once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from pretune.catalog import load_recipe_config
from pretune.catalog import recipe as catalog_entry
from recipe_setups import SETUPS, TinyFiles

pytestmark = pytest.mark.slow

# Dropout-free setups (recipe_setups.BERT_NO_DROPOUT); 8 rows a batch, 4 per process.
STEPS = ("train.max_steps=4", "train.checkpoint_every=2", "train.eval_every=2",
         "train.num_threads=1", "train.lr=1e-3", "train.warmup_ratio=0",
         "train.log_every=1")  # fmt: skip
# Setups whose randomness is drawn per process (sampled completions, masks, augmentation,
# pixel attacks), so two processes follow another random path than one: they must train, and
# their weights are not compared.
RANDOM_PER_PROCESS = {"rl", "pretrain-mlm", "images", "images-cnn", "images-mim"}


@pytest.fixture(autouse=True)
def no_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pretune.recipes._runner.try_write_report", lambda *a, **k: None)


def _overrides(setup: str, files: TinyFiles, out: Path) -> tuple[str, list[str]]:
    recipe, overrides = SETUPS[setup](files)
    return recipe, [*overrides, *STEPS, f"output_dir={out}", f"name={setup}"]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    found = {}
    for path in sorted((run / "model").rglob("model.safetensors")):
        prefix = path.parent.relative_to(run / "model").as_posix()
        found.update({f"{prefix}/{k}": v for k, v in load_file(str(path)).items()})
    return found


@pytest.fixture(scope="module")
def launched(tmp_path_factory, tiny_csv, tiny_bert, tiny_lm, tiny_teacher) -> dict[str, Any]:
    files = TinyFiles(tmp_path_factory.mktemp("setups"), tiny_csv, tiny_bert, tiny_lm,
                      tiny_teacher)  # fmt: skip
    two = tmp_path_factory.mktemp("two-processes")
    spec = [{"key": s, "recipe": r, "overrides": o}
            for s in SETUPS for r, o in [_overrides(s, files, two)]]  # fmt: skip
    (two / "spec.json").write_text(json.dumps(spec))
    script = Path(__file__).with_name("run_recipes_in_processes.py")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        "--master_port=0",
        str(script),
        str(two / "spec.json"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = json.loads((two / "outcomes-0.json").read_text())
    return {"files": files, "two": two, "outcomes": outcomes}


@pytest.mark.parametrize("setup", SETUPS)
def test_two_processes_match_one_or_are_refused(
    setup: str, launched: dict[str, Any], tmp_path: Path
) -> None:
    outcome = launched["outcomes"][setup]
    if outcome.startswith("refused: "):
        assert "\n" not in outcome and "process" in outcome
        return
    recipe, overrides = _overrides(setup, launched["files"], tmp_path)
    cfg = load_recipe_config(recipe, None, overrides)
    catalog_entry(recipe).run_function()(cfg, log=lambda *_: None, live_progress=False)
    one, two = _weights(tmp_path / setup), _weights(launched["two"] / setup)
    assert one.keys() == two.keys() and one
    if setup in RANDOM_PER_PROCESS:
        assert all(bool(w.isfinite().all()) for w in two.values() if w.is_floating_point())
        return
    for name in one:
        torch.testing.assert_close(one[name], two[name], atol=2e-5, rtol=1e-4, msg=name)
