"""Exact resume for pre-training: a run that dies right after a mid-run checkpoint and is
resumed ends with bit-for-bit the weights of a run that was never interrupted (the dynamic
masks of the remaining batches are derived from (seed, epoch, batch index), not replayed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from helpers import make_rows
from pretune.catalog import load_recipe_config
from pretune.recipes.pretrain import run_pretrain
from pretune.tokenization import train_tokenizer

pytestmark = pytest.mark.slow


class _Crash(Exception):
    pass


class CrashAfterCheckpoint:
    """Test-only handler: raises right after the checkpoint of step `step` is written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def checkpoint(self, state) -> None:
        if state.step == self.step:
            raise _Crash


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory) -> dict[str, Path]:
    texts = [text for text, _ in make_rows(40, seed=2)]
    folders = {}
    for kind in ("wordpiece", "bpe"):
        folders[kind] = tmp_path_factory.mktemp(kind)
        train_tokenizer(texts, kind, vocab_size=400).save_pretrained(str(folders[kind]))
    return folders


def _cfg(data: Path, out: Path, name: str, objective: str, tokenizer: Path):
    overrides = [
        f"data.source={data}",
        f"output_dir={out}",
        f"name={name}",
        f"objective={objective}",
        f"pretrain.tokenizer={tokenizer}",
        "model.max_length=32",
        "train.batch_size=8",
        "train.grad_accum=2",
        "train.lr=2e-3",
        "train.epochs=2",
        "train.checkpoint_every=3",
        "train.eval_every=3",
        "train.log_every=1",
        "train.num_threads=1",
    ]
    return load_recipe_config("pretrain", None, overrides)


def _log(run: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["split"], r["step"], r.get("loss"), r.get("lr")) for r in rows]


@pytest.mark.parametrize(("objective", "crash_at"), [("mlm", 3), ("clm", 6)])
def test_resume_matches_uninterrupted_run(objective, crash_at, tiny_csv, tokenizers, tmp_path):
    tokenizer = tokenizers["wordpiece" if objective == "mlm" else "bpe"]
    whole = run_pretrain(_cfg(tiny_csv, tmp_path, "whole", objective, tokenizer), log=print)
    with pytest.raises(_Crash):
        run_pretrain(
            _cfg(tiny_csv, tmp_path, "cut", objective, tokenizer),
            log=print,
            extra_handlers=[CrashAfterCheckpoint(crash_at)],
        )
    run = tmp_path / "cut"
    assert not (run / "model").exists()
    resumed = run_pretrain(None, resume=run, log=print)  # type: ignore[arg-type]
    assert resumed["steps"] == whole["steps"] > crash_at
    expected = load_file(str(Path(whole["run_dir"]) / "model" / "model.safetensors"))
    got = load_file(str(run / "model" / "model.safetensors"))
    assert expected.keys() == got.keys()
    for name in expected:
        assert (expected[name] == got[name]).all(), f"{name} differs after resume"
    assert _log(run) == _log(Path(whole["run_dir"]))
    assert resumed["validation"]["loss"] == whole["validation"]["loss"]
