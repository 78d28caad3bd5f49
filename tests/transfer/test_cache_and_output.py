"""Where the transfer recipes cache embeddings (one documented folder, reported when used), the
few-shot default method (the fastest), and zero-shot printing each result once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

from pretune.catalog.fewshot import FewshotConfig
from pretune.cli.main import main
from pretune.transfer.draws import CACHE_ENV, cache_folder


def _cfg(output_dir: Path, cache_dir: Path | None = None) -> SimpleNamespace:
    return SimpleNamespace(output_dir=str(output_dir), cache_dir=cache_dir)


def test_cache_folder_is_under_the_runs_root_or_pretune_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_folder(_cfg(tmp_path / "runs")) == tmp_path / "runs" / "cache" / "embeddings"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "shared"))
    assert cache_folder(_cfg(tmp_path / "runs")) == tmp_path / "shared" / "embeddings"
    given = tmp_path / "mine"
    assert cache_folder(_cfg(tmp_path / "runs", given)) == given  # cache_dir= wins


def test_fewshot_default_method_is_the_fastest() -> None:
    assert FewshotConfig.model_fields["method"].default == "logreg"


def test_fewshot_reports_its_cache_and_hides_nothing(
    tiny_csv, tiny_bert, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    argv = ["fewshot", f"data.source={tiny_csv}", f"model.init_from={tiny_bert}",
            f"output_dir={tmp_path}", "model.max_length=32", "shots=2", "draws=1"]  # fmt: skip
    assert main([*argv, "name=first"]) == 0
    first = capsys.readouterr()
    summary = json.loads((tmp_path / "first" / "summary.json").read_text())
    assert summary["method"] == "logreg" and list(summary["results"]) == ["logreg"]
    embedded = summary["test_rows"] + 2 * len(summary["label_names"])  # test rows + the shots
    assert f"embeddings: 0 from cache, {embedded} computed" in first.err
    assert re.search(r"^draw 0: logreg [\d.]+$", first.err, re.MULTILINE)  # said once
    assert (tmp_path / "cache" / "embeddings").is_dir()
    assert not list(tmp_path.glob(".*"))  # no hidden folder in the runs root
    assert main([*argv, "name=second"]) == 0
    assert f"embeddings: {embedded} from cache, 0 computed" in capsys.readouterr().err


def test_zeroshot_prints_each_result_once(tiny_csv, tiny_bert, tmp_path, capsys) -> None:
    argv = ["zeroshot", f"data.source={tiny_csv}", f"model.init_from={tiny_bert}",
            f"output_dir={tmp_path}", f"cache_dir={tmp_path / 'c'}", "model.max_length=32",
            "name=z"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr()
    both = printed.out + printed.err
    for step in ("names", "+ template"):
        assert sum(line.startswith(f"{step} ") for line in both.splitlines()) == 1, both
