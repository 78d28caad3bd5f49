"""A real fine-tuning run writes report.html, and the page renders in headless Chromium:
no console errors, every plot present, a screenshot with real content.

Chromium comes from `make test` (Debian's `chromium`); where it cannot be installed the browser
test is skipped with that reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.recipes.finetune import run_finetune

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tiny_csv, tiny_bert, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-runs")
    overrides = tiny_overrides(tiny_csv, tiny_bert, out, "name=shown", "train.epochs=1",
                               "train.eval_every=5")  # fmt: skip
    summary = run_finetune(load_config(None, overrides), log=lambda _: None, live_progress=False)
    return Path(summary["run_dir"])


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("chromium is not installed (make test installs Debian's chromium when it can)")


def _browse(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    command = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args,
               page.resolve().as_uri()]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_finetune_run_writes_its_report(tiny_run):
    page = (tiny_run / "report.html").read_text(encoding="utf-8")
    assert "pretune report: shown" in page
    assert "Could not render" not in page


def test_report_renders_in_chromium(tiny_run, tmp_path):
    page = tiny_run / "report.html"
    shot = tmp_path / "report.png"
    result = _browse(tmp_path, page, f"--screenshot={shot}", "--window-size=1280,2400",
                     "--enable-logging=stderr", "--v=0")  # fmt: skip
    console = [
        line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert not console, console
    assert shot.is_file() and shot.stat().st_size > 30_000

    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 200  # text, plots and colour: not a blank or error page

    dom = _browse(tmp_path, page, "--dump-dom").stdout
    plots = re.findall(r'<img src="data:image/png;base64,[^"]{200,}"', dom)
    assert len(plots) >= 6  # loss, LR, grad norm, throughput, validation, confusion, ...
    assert "Confusion matrix" in dom or "confusion matrix" in dom
