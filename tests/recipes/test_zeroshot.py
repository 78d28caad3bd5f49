"""`pretune zeroshot`: the steps on tiny data, the cloze path with a tiny MLM, bad inputs, and
one real MiniLM check on a BBC subset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretune.cli.main import main


def _args(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "zeroshot", f"data.source={data}", f"model.init_from={model}", f"output_dir={out}",
        f"cache_dir={out / 'cache'}", "model.max_length=32", "train.num_threads=1", *extra,
    ]  # fmt: skip


def test_embedding_steps_write_a_run(tiny_csv, tiny_bert, tmp_path, capsys) -> None:
    argv = _args(tiny_csv, tiny_bert, tmp_path, "name=z", "self_train_rounds=1",
                 "descriptions.sport=match goal team")  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "z" / "summary.json").read_text())
    assert list(summary["results"])[:3] == ["names", "+ template", "+ descriptions"]
    assert any(k.startswith("+ self-training") for k in summary["results"])
    assert summary["prompts"]["+ descriptions"]["sport"][-1] == "match goal team"
    assert (tmp_path / "z" / "report.html").is_file()
    assert "names" in capsys.readouterr().out


def test_cloze_with_a_tiny_mlm(tiny_csv, tiny_bert, tmp_path) -> None:
    assert main(_args(tiny_csv, tiny_bert, tmp_path, "method=cloze", "name=c")) == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert 0 <= summary["results"]["cloze"]["accuracy"] <= 1 and summary["test_rows"] == 30


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["labels=[]"], "labels is empty"),
        (["labels=sport,cooking"], "cooking have no examples"),
        (["templates=[About it]"], "no {label} placeholder"),
        (["method=cloze", "model.init_from=minilm"], "no trained MLM head"),
    ],
)
def test_bad_input_exits_2(tiny_csv, tiny_bert, tmp_path, capsys, extra, message) -> None:
    assert main([*_args(tiny_csv, tiny_bert, tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.integration
def test_minilm_zero_shot_on_bbc_subset(tmp_path) -> None:
    """Real MiniLM, bare label names with the default template, 100 articles (20 per class)."""
    from helpers import write_csv
    from pretune.data.sources import load_source

    bbc = load_source("bbc", text_column="text", label_column="label")
    rows, seen = [], {}
    for text, label in zip(bbc["text"][:], bbc["label"][:], strict=True):
        if seen.get(label, 0) < 20:
            seen[label] = seen.get(label, 0) + 1
            rows.append((text, label))
    data = write_csv(tmp_path / "bbc100.csv", rows)
    argv = ["zeroshot", f"data.source={data}", "model.init_from=minilm", f"output_dir={tmp_path}",
            "model.max_length=64", "test_fraction=0.9", "self_train_rounds=0", "name=z",
            "train.num_threads=1", "label_text.tech=technology"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "z" / "summary.json").read_text())
    assert summary["test_rows"] == 90
    assert summary["results"]["+ template"]["accuracy"] > 0.6  # chance is 0.2
