"""`pretune compare`: both runs listed, the best value per row highlighted in the right
direction, differing settings shown, curves overlaid."""

from __future__ import annotations

import re

import pytest

from pretune.cli.main import main
from pretune.errors import ConfigError
from pretune.report import load_run, write_compare
from pretune.report.compare import best_indices, compare_rows


@pytest.mark.parametrize(
    ("values", "better", "best"),
    [
        ([0.8, 0.9, None], "max", {1}),
        ([0.8, 0.9, 0.7], "min", {2}),
        ([0.9, 0.9, 0.8], "max", {0, 1}),  # ties all win
        ([0.9, 0.9], "max", set()),  # nothing to choose between
        ([0.9, None], "max", set()),  # one value: no contest
        ([1.0, 2.0], None, set()),  # no direction (e.g. parameter count)
        (["a", 2.0, 3.0], "max", {2}),  # non-numbers are ignored
    ],
)
def test_best_indices(values, better, best):
    assert best_indices(values, better) == best


def _row(page: str, label: str) -> str:
    match = re.search(rf"<tr><td>{re.escape(label)}[^<]*</td>(.*?)</tr>", page)
    assert match, label
    return match.group(1)


def test_compare_lists_both_runs_and_highlights_the_best(two_runs, tmp_path):
    out = write_compare(list(two_runs), tmp_path / "compare.html")
    page = out.read_text(encoding="utf-8")
    assert "pretune compare: 2 runs" in page
    assert ">fast<" in page and ">slow<" in page
    accuracy = _row(page, "test accuracy")  # higher is better: "fast" (first column)
    assert re.findall(r'class="num( best)?"', accuracy) == [" best", ""]
    loss = _row(page, "test loss")  # lower is better: "slow" (second column)
    assert re.findall(r'class="num( best)?"', loss) == ["", " best"]
    assert "train.lr" in _settings(page) and "model.init_from" not in _settings(page)
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 3
    assert "<script" not in page


def _settings(page: str) -> str:
    return page.split('id="settings"', 1)[1].split("</section>", 1)[0]


def test_compare_rows_skip_measures_no_run_has(two_runs, make_run):
    bare = make_run("bare", summary={"test": {"accuracy": 0.5}})
    rows = {label for label, _, _ in compare_rows([load_run(two_runs[0]), load_run(bare)])}
    assert "test accuracy" in rows and "parameters" in rows
    rows = {label for label, _, _ in compare_rows([load_run(bare), load_run(bare)])}
    assert rows == {"test accuracy"}


def test_same_run_names_are_told_apart(make_run, tmp_path, summary_factory):
    a = make_run("x/run", summary=summary_factory())
    b = make_run("y/run", summary=summary_factory())
    page = write_compare([a, b], tmp_path / "c.html").read_text(encoding="utf-8")
    assert "run (x)" in page and "run (y)" in page


def test_compare_needs_two_runs(full_run):
    with pytest.raises(ConfigError, match="at least two"):
        write_compare([full_run])


def test_compare_cli(two_runs, tmp_path, capsys):
    out = tmp_path / "cmp.html"
    assert main(["compare", *map(str, two_runs), "--output", str(out)]) == 0
    assert str(out) in capsys.readouterr().out  # where the page went, then what is in it
    assert out.is_file()
    assert main(["compare", str(two_runs[0]), str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
