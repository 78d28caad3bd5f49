"""Commands that read a finished run (`explain`, `evaluate`, `Run.evaluate`) leave its folder
as it was unless asked (`--save`), print what they found, and show no model-loading bar."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.api import Run
from pretune.cli.main import main
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune

TEXT = "the match goal team coach won the cup on saturday"


@pytest.fixture(scope="module")
def run_dir(tiny_csv: Path, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("read-runs")
    overrides = tiny_overrides(tiny_csv, tiny_bert, out, "name=r", "train.max_steps=6",
                               "model.max_length=32")  # fmt: skip
    return Path(run_finetune(load_config(None, overrides), log=lambda _: None,
                             live_progress=False)["run_dir"])  # fmt: skip


def _listing(folder: Path) -> dict[str, int]:
    """Every file under `folder` with its modification time (ns)."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_explain_without_save_prints_and_writes_nothing(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _listing(run_dir)
    assert main(["explain", str(run_dir), f"text={TEXT}", "method=ig"]) == 0
    assert _listing(run_dir) == before
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == TEXT
    label = json.loads((run_dir / "model" / "config.json").read_text())["id2label"]
    predicted = lines[1].split()
    assert predicted[0] == "predicted" and predicted[1] in label.values()
    assert 0.0 < float(predicted[3].rstrip(")")) <= 1.0
    assert lines[2].startswith("  ig top words: ") and lines[2].count(",") == 4
    assert "Loading weights" not in captured.err


def test_explain_with_save_writes_the_page_and_links_it(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(run_dir), "--save", f"text={TEXT}", "method=lime"]) == 0
    assert (run_dir / "explain" / "index.html").is_file()
    assert (run_dir / "explain" / "explain.json").is_file()
    assert "explain/index.html" in (run_dir / "report.html").read_text()
    assert f"explanations: {run_dir / 'explain' / 'index.html'}" in capsys.readouterr().out


def test_evaluate_without_save_writes_nothing(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _listing(run_dir)
    assert main(["evaluate", str(run_dir)]) == 0
    captured = capsys.readouterr()
    assert "accuracy" in captured.out and "nothing written" in captured.out
    assert "Loading weights" not in captured.err
    assert _listing(run_dir) == before
    # output=DIR writes there, and still not into the run.
    assert main(["evaluate", str(run_dir), f"output={tmp_path / 'ev'}"]) == 0
    assert (tmp_path / "ev" / "metrics.json").is_file()
    assert _listing(run_dir) == before


def test_run_evaluate_writes_only_with_save(run_dir: Path, tiny_csv: Path, tmp_path: Path) -> None:
    from transformers.utils import logging as hf_logging

    # The caller's own transformers settings: loading the model quietly must not change them.
    hf_logging.enable_progress_bar()
    hf_logging.set_verbosity_info()
    before = _listing(run_dir)
    result = Run(run_dir).evaluate(tiny_csv)
    assert result["eval_dir"] is None and _listing(run_dir) == before
    assert hf_logging.is_progress_bar_enabled()
    assert hf_logging.get_verbosity() == hf_logging.INFO
    elsewhere = Run(run_dir).evaluate(tiny_csv, output=str(tmp_path / "o"))
    assert (tmp_path / "o" / "metrics.json").is_file() and _listing(run_dir) == before
    assert elsewhere["eval_dir"] == str(tmp_path / "o")
    saved = Run(run_dir).evaluate(tiny_csv, save=True)
    metrics = json.loads((run_dir / "eval" / "topics" / "metrics.json").read_text())
    assert saved["eval_dir"] == str(run_dir / "eval" / "topics")
    assert metrics["metrics"]["accuracy"] == result["metrics"]["accuracy"]


def test_evaluate_save_flag_anywhere_among_the_options(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(run_dir), "--save", "name=flagged", "batch_size=8"]) == 0
    assert (run_dir / "eval" / "flagged" / "predictions.jsonl").is_file()


def test_calibrate_refuses_a_validation_split_too_small_to_fit_on(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _listing(run_dir)
    assert main(["evaluate", str(run_dir), "calibrate=true", "--save"]) == 2
    error = capsys.readouterr().err
    assert "validation split has 15 labelled rows, fewer than the 30" in error
    assert _listing(run_dir) == before


def test_explain_and_evaluate_json_match_the_human_output(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", str(run_dir), f"text={TEXT}", "method=ig", "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["page"] is None and explained["texts"][0]["text"] == TEXT
    assert main(["explain", str(run_dir), f"text={TEXT}", "method=ig"]) == 0
    human = capsys.readouterr().out.splitlines()[1]
    item = explained["texts"][0]
    assert human == f"  predicted {item['predicted']} (probability {item['probability']:.4f})"
    assert len(item["top_words"]["ig"]) == 5
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["eval_dir"] is None and 0.0 <= evaluated["metrics"]["accuracy"] <= 1.0
    assert main(["evaluate", str(run_dir)]) == 0
    accuracy_row = next(r for r in capsys.readouterr().out.splitlines() if "accuracy" in r)
    assert f"{evaluated['metrics']['accuracy']:.4g}" in accuracy_row
