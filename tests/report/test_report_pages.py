"""The report links the pages other commands write into a run folder."""

from __future__ import annotations

from pretune.report.render import write_report


def test_report_links_explanations_and_evaluations(full_run):
    page = write_report(full_run).read_text(encoding="utf-8")
    assert "add links here" in page and 'href="explain/' not in page
    (full_run / "explain").mkdir()
    (full_run / "explain" / "index.html").write_text("<html></html>", encoding="utf-8")
    (full_run / "eval" / "news-2024").mkdir(parents=True)
    (full_run / "eval" / "news-2024" / "metrics.json").write_text("{}", encoding="utf-8")
    page = write_report(full_run).read_text(encoding="utf-8")
    assert 'href="explain/index.html"' in page
    assert 'href="eval/news-2024/metrics.json"' in page
