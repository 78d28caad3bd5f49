"""`techniques.distill` in a plain finetune run: the teacher is loaded from its run folder,
the loss changes, and a wrong teacher path or another label set is a clear ConfigError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.errors import ConfigError
from pretune.recipes.finetune import run_finetune
from pretune.techniques.distill import Distill

FAST = ("model.max_length=32", "train.batch_size=8", "train.max_steps=3", "train.log_every=1",
        "train.num_threads=1", "train.checkpoint_every=0", "train.lr=3e-3")  # fmt: skip


def _run(tiny_csv: Path, tiny_bert: Path, out: Path, name: str, *extra: str) -> Path:
    cfg = load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, f"name={name}", *FAST, *extra))
    return Path(run_finetune(cfg, log=lambda _: None, live_progress=False)["run_dir"])


def _train_losses(run: Path) -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r.get("split") == "train"]


def test_a_finetune_run_distils_from_a_teacher_run(tiny_csv, tiny_bert, tiny_teacher, tmp_path):
    plain = _run(tiny_csv, tiny_bert, tmp_path, "plain")
    distilled = _run(
        tiny_csv, tiny_bert, tmp_path, "distilled", f"techniques.distill.teacher={tiny_teacher}",
        "techniques.distill.alpha=0.9", "techniques.distill.temperature=2.0",
    )  # fmt: skip
    plain_losses, distilled_losses = _train_losses(plain), _train_losses(distilled)
    assert len(plain_losses) == len(distilled_losses) == 3
    # Same seed, data and student, so the first step's hard loss is the plain run's: what is
    # left of the distilled loss after (1 - alpha) of it is the teacher's soft-label term.
    soft_term = distilled_losses[0] - 0.1 * plain_losses[0]
    assert soft_term > 1e-4, (plain_losses, distilled_losses)  # float noise is ~1e-7
    assert (distilled / "model" / "config.json").is_file()


def test_a_wrong_teacher_path_is_a_config_error(tiny_csv, tiny_bert, tmp_path):
    with pytest.raises(ConfigError, match=r"techniques.distill.teacher=.*no such folder"):
        _run(tiny_csv, tiny_bert, tmp_path, "x", f"techniques.distill.teacher={tmp_path / 'no'}")
    with pytest.raises(ConfigError, match="is not a classifier run"):  # an MLM checkpoint
        _run(tiny_csv, tiny_bert, tmp_path, "y", f"techniques.distill.teacher={tiny_bert}")


def test_a_teacher_with_other_labels_is_a_config_error_naming_both(tiny_csv, tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification

    other = AutoModelForSequenceClassification.from_pretrained(
        str(tiny_bert), num_labels=2, id2label={0: "spam", 1: "ham"}, label2id={"spam": 0, "ham": 1}
    )
    other.save_pretrained(str(tmp_path / "other"))
    with pytest.raises(ConfigError, match=r"teacher's labels \(spam, ham\).*money, sport, tech"):
        _run(tiny_csv, tiny_bert, tmp_path, "z", f"techniques.distill.teacher={tmp_path / 'other'}")


def test_a_teacher_folder_and_a_loaded_teacher_build_alike(tiny_teacher):
    from_path = Distill(str(tiny_teacher), temperature=3.0, alpha=0.2)
    loaded = Distill.from_model(from_path.teacher, from_path.teacher_labels, 3.0, 0.2)
    assert loaded.teacher_labels == from_path.teacher_labels
    assert (loaded.temperature, loaded.alpha) == (3.0, 0.2)
    with pytest.raises(ConfigError, match="teacher_labels"):
        Distill(str(tiny_teacher), teacher_labels=["a"])
    with pytest.raises(ConfigError, match="teacher_labels"):
        Distill(from_path.teacher)
