"""The run report: every section renders from its data, missing data gives a note, texts are
escaped, bad data costs one section at most, and the page needs nothing from the network."""

from __future__ import annotations

import re

import pytest

from pretune.cli.main import main
from pretune.errors import CheckpointError
from pretune.report import load_run, render_report, try_write_report, write_report
from pretune.report.html import fmt

MISSING = "Not recorded for this run"


def _images(page: str) -> int:
    return len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page))


def test_full_run_renders_every_section_with_its_plots(full_run):
    path = write_report(full_run)
    assert path == full_run / "report.html"
    page = path.read_text(encoding="utf-8")
    # loss, LR, grad norm, throughput, validation, confusion, per-class, ROC, PR, reliability
    assert _images(page) == 10
    assert MISSING not in page and "Could not render" not in page
    expected = ["pretune report: full", "recipe: <b>finetune</b>", "0.8000", "shares fell"]
    expected += ["exact duplicates", "ECE after temperature scaling", "22,000,000"]
    for text in expected:
        assert text in page, text
    # Sections of other kinds of runs are left out, not shown as empty.
    assert "Reward and KL" not in page and "pixel attacks" not in page


def test_page_is_self_contained(full_run):
    page = write_report(full_run).read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "@import" not in page and "url(" not in page


def test_run_with_config_only_renders_notes_not_errors(make_run):
    run = make_run("early", config={"name": "early", "data": {"source": "x.csv"}})
    page = write_report(run).read_text(encoding="utf-8")
    assert page.count(MISSING) >= 8
    assert "did not finish" in page
    assert _images(page) == 0
    assert "Could not render" not in page


def test_older_run_without_evaluation_sections(make_run, summary_factory):
    summary = summary_factory()
    for key in ("curves", "calibration", "errors", "efficiency"):
        del summary[key]
    run = make_run("old", summary=summary, records=[])
    page = render_report(load_run(run))
    assert "ROC curves" not in page and "reliability diagram" not in page
    assert "confusion matrix" in page  # what the old run has is still shown
    assert "training time (s)" in page  # efficiency falls back on summary["timing"]


def test_pretraining_run_without_labels(make_run):
    summary = {
        "task": "mlm",
        "validation": {"loss": 2.5, "perplexity": 12.18},
        "steps": 40,
        "data": {"documents": {"train": 90}, "packing": True},
        "parameters": 1234,
        "timing": {"train_seconds": 3.0, "total_seconds": 4.0},
    }
    records = [{"split": "validation", "step": s, "loss": 3 - s / 40, "perplexity": 20 - s / 4}
               for s in (10, 20, 30, 40)]  # fmt: skip
    page = write_report(make_run("pretrain-x", summary=summary, records=records)).read_text()
    assert "recipe: <b>pretrain</b>" in page
    assert "validation perplexity" in page and "12.1800" in page
    assert _images(page) == 2  # validation loss, perplexity over steps
    assert "documents.train" in page and "1,234" in page
    assert "Could not render" not in page


def test_wrong_types_cost_at_most_a_section(make_run, summary_factory):
    summary = summary_factory()
    summary.update(
        test={"accuracy": "high", "confusion_matrix": [[1, 2]], "per_class": {"a": 3}},
        curves={"roc": [1, 2], "pr": {"x": {"precision": [1], "recall": [0, 1]}}},
        errors={"confident_mistakes": "none", "by_length": [None, {"bucket": 1}]},
        data=5,
        efficiency=None,
        steps="many",
    )
    run = make_run("odd", summary=summary, config=["not", "a", "mapping"])
    page = render_report(load_run(run))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "test accuracy" in page


def test_texts_from_the_run_are_escaped(make_run, summary_factory):
    evil = '<script>alert("x")</script>'
    summary = summary_factory()
    summary["labels"] = [evil, "b", "c"]
    summary["errors"]["confident_mistakes"][0]["text"] = f"{evil} & more"
    summary["data"]["cleaning"] = {evil: {"rows_in": 1, "rows_out": 1, "steps": []}}
    run = make_run("evil", summary=summary, config={"name": evil, "data": {"source": evil}})
    page = write_report(run).read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page


def test_half_written_metrics_line_is_skipped(full_run):
    with (full_run / "metrics.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"split": "train", "step": 35, "lo')  # a crash mid-write
    run = load_run(full_run)
    assert len(run.split_records("train")) == 6
    assert _images(render_report(run)) == 10


def test_not_a_run_folder(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="not a pretune run folder"):
        load_run(tmp_path)
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_report_cli_regenerates_the_page(full_run, tmp_path, capsys):
    out = tmp_path / "elsewhere.html"
    assert main(["report", str(full_run), "--output", str(out)]) == 0
    assert str(out) in capsys.readouterr().out  # where the page went, then what is in it
    assert _images(out.read_text(encoding="utf-8")) == 10


def test_try_write_report_warns_instead_of_raising(tmp_path):
    lines: list[str] = []
    assert try_write_report(tmp_path / "missing", log=lines.append) is None
    assert len(lines) == 1 and lines[0].startswith("warning: report.html not written")


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (0.91234, "0.9123"), (12000, "12,000"), (57.63, "57.6"), (1.2e9, "1.2e+09"),
     (True, "yes"), ("x", "x")],
)  # fmt: skip
def test_fmt(value, text):
    assert fmt(value) == text
