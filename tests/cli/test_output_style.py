"""One output style: a short human summary (rich tables on a terminal, plain aligned text when
piped, numbers rounded) or, with --json, the result as data; `report` and `compare` say what
their page holds; `compare` writes next to the runs, not into the current folder."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from pretune.cli.main import main
from pretune.cli.output import Table, fmt, mapping_blocks, show
from pretune.cli.summaries import PRINTERS, print_run_summary

# The shape of `pretune quantize`'s report (deploy/quantize.py), with unrounded floats.
QUANTIZE_REPORT = {
    "output": "runs/a/model-int8", "test_examples": 15, "accuracy_change": -0.06666666666666665,
    "speedup": 1.2345678901, "size_ratio": 0.2631578947368421,
    "float32": {"accuracy": 0.6666666666666666, "examples_per_s": 12049.961, "bytes": 141068},
    "int8": {"accuracy": 0.6, "examples_per_s": 14876.3312, "bytes": 37123},
}  # fmt: skip


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cells_are_rounded() -> None:
    assert fmt(0.6666666666666666) == "0.6667"
    assert fmt(25481.33) == "25481" and fmt(3.0) == "3" and fmt(2e-05) == "2e-05"
    assert fmt({"mean": 0.90333, "std": 0.02321}) == "0.9033 ± 0.0232"
    assert (fmt(None), fmt(True)) == ("-", "yes")


def test_a_report_is_plain_text_when_piped_and_rich_on_a_terminal() -> None:
    piped, terminal = io.StringIO(), _Terminal()
    show(mapping_blocks(QUANTIZE_REPORT), piped)
    show(mapping_blocks(QUANTIZE_REPORT), terminal)
    text = piped.getvalue()
    assert not re.search(r"\.\d{6,}", text) and "-0.06667" in text  # 4 significant digits
    assert "{" not in text and "│" not in text and "\x1b" not in text  # not JSON, no boxes
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    assert rows["float32"] == ["0.6667", "12050", "141068"]
    assert rows["int8"] == ["0.6", "14876", "37123"]
    assert "│" in terminal.getvalue() or "┃" in terminal.getvalue()  # a rich table


def test_plain_table_aligns_numbers_right_and_text_left() -> None:
    out = io.StringIO()
    show([Table(["name", "value"], [["a", "1.5"], ["longer", "10"]])], out)
    assert out.getvalue().splitlines() == ["name    value", "a         1.5", "longer     10"]


def test_run_summary_and_json(runs_root: Path, capsys) -> None:
    summary = json.loads((runs_root / "ft" / "summary.json").read_text())
    summary["run_dir"] = str(runs_root / "ft")
    print_run_summary("finetune", summary)
    out = capsys.readouterr().out
    assert f"accuracy {fmt(summary['test']['accuracy'])}" in out
    assert "confusion matrix" in out and out.rstrip().endswith(f"run saved in {runs_root}/ft")
    print_run_summary("finetune", summary, as_json=True)
    assert json.loads(capsys.readouterr().out) == summary
    assert set(PRINTERS) >= {"finetune", "fewshot", "zeroshot", "metalearn", "ner", "qa"}


def test_report_prints_what_the_page_holds(runs_root: Path, capsys) -> None:
    summary = json.loads((runs_root / "ft" / "summary.json").read_text())
    assert main(["report", str(runs_root / "ft")]) == 0
    out = capsys.readouterr().out
    assert f"written {runs_root / 'ft' / 'report.html'}" in out
    assert re.search(rf"test accuracy +{re.escape(fmt(summary['test']['accuracy']))}\n", out)
    assert main(["report", str(runs_root / "ft"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"]["test accuracy"] == [summary["test"]["accuracy"]]
    assert result["status"] == ["finished"] and result["recipes"] == ["finetune"]


def test_compare_writes_next_to_the_runs_or_to_out(runs_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the current folder must stay clean
    runs = [str(runs_root / "ft"), str(runs_root / "cut")]
    assert main(["compare", *runs]) == 0
    out = capsys.readouterr().out
    assert f"written {runs_root / 'compare.html'}" in out and (runs_root / "compare.html").is_file()
    assert re.search(r"status +finished +not finished", out)
    assert not list(tmp_path.iterdir())
    assert main(["compare", *runs, "--out", "here.html", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["output"] == "here.html" and (tmp_path / "here.html").is_file()
    assert result["status"] == ["finished", "not finished"]
    assert result["metrics"]["test accuracy"][1] is None  # cut never reached its test split


def test_data_inspect_json_matches_the_table(tiny_csv: Path, capsys) -> None:
    assert main(["data", "inspect", str(tiny_csv), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["data", "inspect", str(tiny_csv)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^rows +{report['rows']}$", out, re.MULTILINE)
    for label, count in report["labels"]["counts"].items():
        assert re.search(rf"^{label} +{count} ", out, re.MULTILINE)


def test_techniques_json_lists_the_same_names(capsys) -> None:
    assert main(["techniques", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert main(["techniques"]) == 0
    out = capsys.readouterr().out
    for name in result["techniques"]["entries"]:
        assert re.search(rf"^{name} ", out, re.MULTILINE)
