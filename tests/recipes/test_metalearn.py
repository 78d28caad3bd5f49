"""`pretune metalearn`: held-out rotation on tiny 4-class data, and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import make_rows, write_csv
from pretune.cli.main import main


@pytest.fixture(scope="module")
def four_classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = make_rows(20) + [(f"{t} weather rain sun cloud", "weather") for t, _ in make_rows(7, 2)]
    return write_csv(tmp_path_factory.mktemp("meta") / "four.csv", rows)


def _args(data: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return [
        "metalearn", f"data.source={data}", f"model.init_from={model}", f"output_dir={out}",
        f"cache_dir={out / 'cache'}", "model.max_length=32", "train.num_threads=1",
        "projection_dim=16", *extra,
    ]  # fmt: skip


def test_held_out_rotation_writes_a_run(four_classes, tiny_bert, tmp_path, capsys) -> None:
    argv = _args(four_classes, tiny_bert, tmp_path, "name=m", "episodes=20", "draws=2",
                 "rotations=2", "shots=2", "queries=3", "test_fraction=0.3")  # fmt: skip
    assert main(argv) == 0
    run = tmp_path / "m"
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["rotations"]) == 2 and len(summary["per_draw"]) == 4
    assert set(summary["results"]) == {"meta", "untrained_head", "logreg", "protonet_frozen"}
    held = [r["held_out"] for r in summary["rotations"]]
    assert held[0] != held[1] and all(len(h) == 2 for h in held)
    assert (run / "rotations" / "0" / "metrics.jsonl").is_file()
    assert (run / "report.html").is_file() and "meta" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["held_out=3"], "leaves 1 of 4 classes"),
        (["shots=400"], "shots=400 is larger than the smallest class"),
        (["method=maml2"], "method"),
    ],
)
def test_bad_input_exits_2(four_classes, tiny_bert, tmp_path, capsys, extra, message) -> None:
    assert main(_args(four_classes, tiny_bert, tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err
