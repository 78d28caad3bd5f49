"""The real bundled model and corpus: MiniLM fine-tuned on a BBC subset, and data inspect."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretune.cli.main import main

pytestmark = pytest.mark.integration


def test_minilm_learns_bbc_from_300_examples(tmp_path, capsys):
    code = main(
        ["quickstart", f"output_dir={tmp_path}", "name=bbc-small", "data.max_train_examples=300",
         "model.max_length=128", "train.epochs=2", "train.log_every=5"]
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    summary = json.loads((tmp_path / "bbc-small" / "summary.json").read_text())
    # BBC holds duplicate articles; cleaning drops them before the stratified 80/10/10 split.
    cleaning = summary["data"]["cleaning"]["bbc"]
    assert cleaning["rows_in"] == 2225 and 2000 < cleaning["rows_out"] < 2225
    sizes = summary["data"]["sizes"]
    assert sizes["train"] == 300
    assert abs(sizes["test"] - 0.1 * cleaning["rows_out"]) <= 1
    assert abs(sizes["validation"] - 0.1 * cleaning["rows_out"]) <= 1
    assert summary["labels"] == ["business", "entertainment", "politics", "sports", "tech"]
    assert summary["test"]["accuracy"] > 0.85  # 5 classes: chance is about 0.23
    assert "test: accuracy" in out.out and "confusion matrix" in out.out
    assert str(Path(tmp_path) / "bbc-small") in out.out


def test_data_inspect_bbc_in_tokens(capsys):
    assert main(["data", "inspect", "bbc", "--tokenizer", "minilm"]) == 0
    out = capsys.readouterr().out
    assert "2225" in out
    assert "token" in out.lower()
    for label in ("business", "entertainment", "politics", "sports", "tech"):
        assert label in out
