"""`pretune runs` and `pretune.run_list.list_runs`: real tiny runs plus an interrupted one and
one held by a live process (the `runs_root` fixture, conftest.py); statuses, main metrics,
sort orders, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pretune.cli.main import main
from pretune.config.compose import RunBase
from pretune.errors import ConfigError
from pretune.run_list import DEFAULT_RUNS_ROOT, list_runs, sort_runs


def test_statuses_recipes_and_main_metrics(runs_root: Path) -> None:
    rows = {r.name: r for r in list_runs(runs_root)}
    assert set(rows) == {"ft", "fs", "cut", "live", "stale"}
    status = {name: r.status for name, r in rows.items()}
    assert status == {"ft": "finished", "fs": "finished", "cut": "interrupted",
                      "live": "running", "stale": "interrupted"}  # fmt: skip
    ft = json.loads((runs_root / "ft" / "summary.json").read_text())
    assert (rows["ft"].recipe, rows["ft"].metric) == ("finetune", "accuracy")
    assert rows["ft"].value == ft["test"]["accuracy"]
    assert rows["ft"].duration_s == ft["timing"]["total_seconds"]
    fs = json.loads((runs_root / "fs" / "summary.json").read_text())
    assert rows["fs"].recipe == "fewshot"
    assert rows["fs"].value == fs["results"]["logreg"]["accuracy"]["mean"]
    assert rows["cut"].value is None and rows["cut"].recipe == "finetune"


def test_sort_orders(runs_root: Path) -> None:
    assert [r.name for r in list_runs(runs_root)] == ["ft", "fs", "cut", "live", "stale"]
    assert [r.name for r in list_runs(runs_root, "name")] == sorted(
        ["ft", "fs", "cut", "live", "stale"]
    )
    rows = list_runs(runs_root)
    rows[0].metrics["accuracy"], rows[1].metrics["accuracy"] = 0.5, 0.9  # ft 0.5, fs 0.9
    by_accuracy = [r.name for r in sort_runs(rows, "accuracy")]
    assert by_accuracy == ["fs", "ft", "cut", "live", "stale"]  # best first, then no metric
    rows[0].metrics["loss"], rows[1].metrics["loss"] = 0.2, 0.7
    assert [r.name for r in sort_runs(rows, "loss")][:2] == ["ft", "fs"]  # lower is better


def test_cli_table_and_json(runs_root: Path, capsys) -> None:
    assert main(["runs", str(runs_root), "--sort", "name"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "recipe", "started", "(UTC)"]
    assert [line.split()[0] for line in lines[1:6]] == ["cut", "fs", "ft", "live", "stale"]
    assert lines[-1] == "2 finished, 1 running, 2 interrupted"
    assert main(["runs", str(runs_root), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in printed] == ["ft", "fs", "cut", "live", "stale"]
    assert printed[0]["status"] == "finished" and printed[0]["metric"] == "accuracy"


def test_missing_folder_is_bad_input(tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="no such runs folder"):
        list_runs(tmp_path / "nope")
    assert main(["runs", str(tmp_path / "nope")]) == 2
    assert "no such runs folder" in capsys.readouterr().err


def test_default_root_is_the_schema_default() -> None:
    assert Path(RunBase.model_fields["output_dir"].default) == DEFAULT_RUNS_ROOT
