"""FSDP (train.distributed=fsdp) on CPU: two gloo processes with sharded parameters match one
process on the same global batch; their checkpoints hold the full, unsharded state in the
normal format and resume on one process; the final model/ is written once, in HF format."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from helpers import MULTIPROCESS_SETTINGS, run_pretune_cli, tiny_overrides
from pretune.config import RunConfig, load_config
from pretune.errors import ConfigError
from pretune.train.distributed import _fsdp_plugin, make_accelerator

SETTINGS = MULTIPROCESS_SETTINGS
FSDP = ("train.distributed=fsdp",)

# Sharding changes only the order of float32 sums (each process reduces its half of the batch,
# then gloo sums the halves), so results differ from one process by rounding alone: ~1e-7
# relative per operation, grown a little by six Adam steps. 2e-5 absolute is ~1/1000 of one
# step's change (lr 3e-3) and the DDP test's bound; a wrong gradient scale (a mean over
# processes missing, or a shard trained twice) breaks it by orders of magnitude.
ATOL, RTOL = 2e-5, 1e-4


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
def fsdp_run(tiny_csv, no_dropout_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fsdp")
    args = tiny_overrides(tiny_csv, no_dropout_bert, out, "name=two", *SETTINGS, *FSDP)
    done = run_pretune_cli("finetune", "--nproc", "2", *args)
    assert done.returncode == 0, done.stderr
    # Really sharded (accelerate alone would fall back to DDP on CPU): the main process holds
    # about half of the parameter values.
    held, total = re.search(
        r"holds ([\d,]+) of ([\d,]+) parameter", done.stdout + done.stderr
    ).groups()
    assert int(held.replace(",", "")) < 0.6 * int(total.replace(",", ""))
    return out / "two"


@pytest.mark.slow
def test_two_fsdp_processes_match_one_and_write_full_state(single_process_run, fsdp_run):
    run = fsdp_run
    _assert_close(_final_weights(single_process_run), _final_weights(run))
    # model/ is a plain HF folder, written once by the main process.
    assert json.loads((run / "model" / "config.json").read_text())["model_type"] == "bert"
    log = (run / "metrics.jsonl").read_text().splitlines()
    assert len([r for r in log if '"validation"' in r]) == 3
    # model/ holds the best validation weights (an early step with this tiny model); the
    # global gradient norm of the last steps shows the whole run followed the same path.
    for step in (5, 6):
        expected = _train_log(single_process_run)[step]["grad_norm"]
        assert _train_log(run)[step]["grad_norm"] == pytest.approx(expected, rel=RTOL)
    # A checkpoint holds the full model and the optimizer state in the one-process format
    # (parameters numbered 0..n-1), not shards or name-keyed dicts.
    ours, ref = run / "checkpoints" / "step-4", single_process_run / "checkpoints" / "step-4"
    _assert_close(load_file(ref / "model.safetensors"), load_file(ours / "model.safetensors"))
    mine, theirs = _optimizer_state(ours), _optimizer_state(ref)
    assert [g["params"] for g in mine["param_groups"]] == [
        g["params"] for g in theirs["param_groups"]
    ]
    assert mine["state"].keys() == theirs["state"].keys()
    for index, moments in theirs["state"].items():
        _assert_close(moments, mine["state"][index])


@pytest.mark.slow
def test_fsdp_checkpoint_resumes_on_one_process(single_process_run, fsdp_run, tmp_path):
    # The FSDP run as if it had stopped after its step-4 checkpoint (its last one: the final
    # step writes model/ instead). Stopping by SIGKILL is the DDP test's business; here the
    # point is the checkpoint that 2 sharded processes wrote.
    run = tmp_path / "moved"
    shutil.copytree(fsdp_run, run)
    shutil.rmtree(run / "model")
    (run / "summary.json").unlink()
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*"))[-1] == "step-4"
    # The saved config says fsdp; resumed here in 1 process.
    resumed = run_pretune_cli("finetune", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert "from step-4" in resumed.stdout + resumed.stderr
    # Steps 5 and 6 ran in one process from the 2-process checkpoint (weights and Adam moments):
    # their loss and gradient norm are those of the uninterrupted one-process run.
    for step in (5, 6):
        for key in ("loss", "grad_norm"):
            expected = _train_log(single_process_run)[step][key]
            assert _train_log(run)[step][key] == pytest.approx(expected, rel=RTOL), (step, key)
    _assert_close(_final_weights(single_process_run), _final_weights(run))


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


def test_one_process_fsdp_config_trains_unsharded():
    accelerator = make_accelerator(load_config(None, list(FSDP)))
    assert accelerator.num_processes == 1
    assert not accelerator.is_fsdp2
    assert os.environ.get("ACCELERATE_USE_FSDP") is None  # no leak into later runs
