"""FSDP (train.distributed=fsdp) on CPU: two gloo processes with sharded parameters match one
process on the same global batch; their checkpoints hold the full, unsharded state in the
normal format and resume on one process; the final model/ is written once, in HF format."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import tiny_overrides
from pretune.config import RunConfig, load_config
from pretune.errors import ConfigError
from pretune.recipes.session import _fsdp_plugin, make_accelerator

SETTINGS = ("train.batch_size=8", "train.max_steps=6", "train.checkpoint_every=2",
            "train.eval_every=2", "train.num_threads=1", "train.keep_checkpoints=5")  # fmt: skip
FSDP = ("train.distributed=fsdp",)

# Sharding changes only the order of float32 sums (each process reduces its half of the batch,
# then gloo sums the halves), so results differ from one process by rounding alone: ~1e-7
# relative per operation, grown a little by six Adam steps. 2e-5 absolute is ~1/1000 of one
# step's change (lr 3e-3) and the DDP test's bound; a wrong gradient scale (a mean over
# processes missing, or a shard trained twice) breaks it by orders of magnitude.
ATOL, RTOL = 2e-5, 1e-4


@pytest.fixture(scope="module")
def no_dropout_bert(tiny_bert, tmp_path_factory) -> Path:
    # Dropout masks depend on how rows are split across processes; without dropout 1 x 8 rows
    # and 2 x 4 rows are the same maths up to float rounding.
    folder = tmp_path_factory.mktemp("tiny-bert-nodrop")
    shutil.copytree(tiny_bert, folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _pretune(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pretune", *args],
        capture_output=True, text=True, timeout=400, env={**os.environ, **(env or {})},
    )  # fmt: skip


def _assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=ATOL, rtol=RTOL, msg=name)


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "model.safetensors"))


def _train_log(run: Path) -> dict[int, dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in records if r["split"] == "train"}


def _optimizer_state(checkpoint: Path) -> dict:
    return torch.load(checkpoint / "training_state.pt", weights_only=True)["optimizer"]


@pytest.fixture(scope="module")
def single(tiny_csv, no_dropout_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single")
    args = tiny_overrides(tiny_csv, no_dropout_bert, out, "name=one", *SETTINGS)
    done = _pretune("finetune", *args)
    assert done.returncode == 0, done.stderr
    return out / "one"


@pytest.fixture(scope="module")
def fsdp_run(tiny_csv, no_dropout_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fsdp")
    args = tiny_overrides(tiny_csv, no_dropout_bert, out, "name=two", *SETTINGS, *FSDP)
    done = _pretune("finetune", "--nproc", "2", *args)
    assert done.returncode == 0, done.stderr
    # Really sharded (accelerate alone would fall back to DDP on CPU): the main process holds
    # about half of the parameter values.
    held, total = re.search(
        r"holds ([\d,]+) of ([\d,]+) parameter", done.stdout + done.stderr
    ).groups()
    assert int(held.replace(",", "")) < 0.6 * int(total.replace(",", ""))
    return out / "two"


@pytest.mark.slow
def test_two_fsdp_processes_match_one_and_write_full_state(single, fsdp_run):
    run = fsdp_run
    _assert_close(_final_weights(single), _final_weights(run))
    # model/ is a plain HF folder, written once by the main process.
    assert json.loads((run / "model" / "config.json").read_text())["model_type"] == "bert"
    log = (run / "metrics.jsonl").read_text().splitlines()
    assert len([r for r in log if '"validation"' in r]) == 3
    # model/ holds the best validation weights (an early step with this tiny model); the
    # global gradient norm of the last steps shows the whole run followed the same path.
    for step in (5, 6):
        expected = _train_log(single)[step]["grad_norm"]
        assert _train_log(run)[step]["grad_norm"] == pytest.approx(expected, rel=RTOL)
    # A checkpoint holds the full model and the optimizer state in the one-process format
    # (parameters numbered 0..n-1), not shards or name-keyed dicts.
    ours, ref = run / "checkpoints" / "step-4", single / "checkpoints" / "step-4"
    _assert_close(load_file(ref / "model.safetensors"), load_file(ours / "model.safetensors"))
    mine, theirs = _optimizer_state(ours), _optimizer_state(ref)
    assert [g["params"] for g in mine["param_groups"]] == [
        g["params"] for g in theirs["param_groups"]
    ]
    assert mine["state"].keys() == theirs["state"].keys()
    for index, moments in theirs["state"].items():
        _assert_close(moments, mine["state"][index])


@pytest.mark.slow
def test_fsdp_checkpoint_resumes_on_one_process(single, fsdp_run, tmp_path):
    # The FSDP run as if it had stopped after its step-4 checkpoint (its last one: the final
    # step writes model/ instead). Stopping by SIGKILL is the DDP test's business; here the
    # point is the checkpoint that 2 sharded processes wrote.
    run = tmp_path / "moved"
    shutil.copytree(fsdp_run, run)
    shutil.rmtree(run / "model")
    (run / "summary.json").unlink()
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*"))[-1] == "step-4"
    resumed = _pretune("finetune", "--resume", str(run))  # the saved config says fsdp: 1 process
    assert resumed.returncode == 0, resumed.stderr
    assert "from step-4" in resumed.stdout + resumed.stderr
    # Steps 5 and 6 ran in one process from the 2-process checkpoint (weights and Adam moments):
    # their loss and gradient norm are those of the uninterrupted one-process run.
    for step in (5, 6):
        for key in ("loss", "grad_norm"):
            expected = _train_log(single)[step][key]
            assert _train_log(run)[step][key] == pytest.approx(expected, rel=RTOL), (step, key)
    _assert_close(_final_weights(single), _final_weights(run))


def test_distributed_must_be_ddp_or_fsdp():
    with pytest.raises(ConfigError, match=r"train\.distributed"):
        load_config(None, ["train.distributed=zero3"])


def test_fsdp_plugin_shards_by_transformer_layer():
    cfg = load_config(None, [*FSDP, "train.fsdp_reshard_after_forward=false"])
    plugin = _fsdp_plugin(cfg)
    assert plugin.fsdp_version == 2
    assert plugin.reshard_after_forward is False
    assert plugin.transformer_cls_names_to_wrap is None  # the model's _no_split_modules
    named = _fsdp_plugin(load_config(None, [*FSDP, "train.fsdp_wrap=[BertLayer]"]))
    assert named.transformer_cls_names_to_wrap == ["BertLayer"]
    assert RunConfig().train.distributed == "ddp"  # old configs keep DDP


def test_recipes_without_fsdp_support_refuse_it_with_several_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=r"train\.distributed=fsdp.*use train\.distributed=ddp"):
        make_accelerator(load_config(None, list(FSDP)))


def test_one_process_fsdp_config_trains_unsharded():
    accelerator = make_accelerator(load_config(None, list(FSDP)), supports_fsdp=True)
    assert accelerator.num_processes == 1
    assert not accelerator.is_fsdp2
    assert os.environ.get("ACCELERATE_USE_FSDP") is None  # no leak into later runs
