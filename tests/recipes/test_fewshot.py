"""`pretune fewshot`: the run folder on tiny data, shared draws, bad inputs, and one real
MiniLM check on a BBC subset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretune.cli.main import main


def _args(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "fewshot", f"data.source={data}", f"model.init_from={model}", f"output_dir={out}",
        f"cache_dir={out / 'cache'}", "model.max_length=32", "train.num_threads=1", *extra,
    ]  # fmt: skip


def test_logreg_and_protonet_share_draws_and_write_a_run(tiny_csv, tiny_bert, tmp_path, capsys):
    assert main(_args(tiny_csv, tiny_bert, tmp_path, "method=protonet", "shots=4",
                      "draws=3", "name=p")) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "protonet" in out and "±" in out
    run = tmp_path / "p"
    for name in ("config.yaml", "summary.json", "report.html"):
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["per_draw"]) == 3 and set(summary["results"]) == {"protonet", "logreg"}
    accs = [d["protonet"]["accuracy"] for d in summary["per_draw"]]
    mean = summary["results"]["protonet"]["accuracy"]["mean"]
    assert mean == pytest.approx(sum(accs) / 3, abs=1e-4)
    # A second run reads every embedding from the cache and scores the same draws.
    assert main(_args(tiny_csv, tiny_bert, tmp_path, "method=logreg", "shots=4", "draws=3",
                      "name=l")) == 0  # fmt: skip
    second = json.loads((tmp_path / "l" / "summary.json").read_text())
    assert [d["logreg"] for d in second["per_draw"]] == [d["logreg"] for d in summary["per_draw"]]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["shots=500"], "shots=500 is larger than the smallest class"),
        (["method=magic"], "method"),
        (["draws=0"], "draws"),
    ],
)
def test_bad_input_exits_2(tiny_csv, tiny_bert, tmp_path, capsys, extra, message) -> None:
    assert main(_args(tiny_csv, tiny_bert, tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err


@pytest.mark.integration
def test_minilm_setfit_beats_chance_on_bbc_subset(tmp_path) -> None:
    """Real MiniLM: 2 shots per class, a short contrastive tuning, 30 held-out articles."""
    from helpers import write_csv
    from pretune.data.sources import load_source

    bbc = load_source("bbc", text_column="text", label_column="label")
    rows, seen = [], {}
    for text, label in zip(bbc["text"][:], bbc["label"][:], strict=True):
        if seen.get(label, 0) < 10:
            seen[label] = seen.get(label, 0) + 1
            rows.append((text, label))
    data = write_csv(tmp_path / "bbc50.csv", rows)
    argv = ["fewshot", f"data.source={data}", "model.init_from=minilm", f"output_dir={tmp_path}",
            "model.max_length=48", "method=setfit", "shots=2", "draws=1", "pairs_per_example=2",
            "test_fraction=0.6", "name=s", "train.num_threads=1", "baseline=false"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    setfit = summary["per_draw"][0]["setfit"]["accuracy"]
    assert setfit > 0.5  # chance is 0.2 (5 classes)
    assert summary["per_draw"][0]["setfit_training"]["pairs"] == 10 * 2 * 2


def test_episodic_protonet_trains_a_head_per_draw(tiny_csv, tiny_bert, tmp_path) -> None:
    argv = _args(tiny_csv, tiny_bert, tmp_path, "method=protonet", "shots=4", "draws=1",
                 "protonet_episodes=30", "name=e", "baseline=false")  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert set(summary["results"]) == {"protonet"}
    assert (tmp_path / "e" / "draws" / "0" / "metrics.jsonl").is_file()


def test_episodic_protonet_honours_the_distance(tiny_csv, tiny_bert, tmp_path) -> None:
    losses = {}
    for distance in ("cosine", "euclidean"):
        argv = _args(tiny_csv, tiny_bert, tmp_path, "method=protonet", "shots=4", "draws=1",
                     "protonet_episodes=6", "train.log_every=1", f"distance={distance}",
                     f"name={distance}", "baseline=false")  # fmt: skip
        assert main(argv) == 0
        lines = (tmp_path / distance / "draws" / "0" / "metrics.jsonl").read_text().splitlines()
        losses[distance] = [json.loads(line)["loss"] for line in lines if '"loss"' in line]
    # Same seed, same episodes: only the logits (scaled cosine or squared distance) differ.
    assert len(losses["cosine"]) == 6 and losses["cosine"] != losses["euclidean"]
