"""Searches on the tiny model: results written, resume continues numbering, pruning, workers."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.hpo.results import write_results
from pretune.hpo.space import parse_space
from pretune.hpo.study import SearchSpec, run_search
from pretune.recipes.finetune import run_finetune

SPACE = {
    "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [8, 16]},
}
FAST = ("train.max_steps=2", "data.test_fraction=0.1", "name=s")


def _base(tiny_csv, tiny_bert, out):
    return load_config(None, tiny_overrides(tiny_csv, tiny_bert, out, *FAST))


def _spec(out, trials, **kw):
    return SearchSpec(search_dir=out / "s", space=parse_space(SPACE), trials=trials, **kw)


def _rows(path):
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_three_trial_search_writes_results(tiny_csv, tiny_bert, tmp_path):
    base = _base(tiny_csv, tiny_bert, tmp_path)
    spec = _spec(tmp_path, 3, sampler="random", pruner="none")
    study = run_search(base, spec, train_fn=run_finetune, log=lambda _: None)
    written = write_results(study, base, spec.search_dir)
    rows = _rows(spec.search_dir / "trials.csv")
    assert [r["trial"] for r in rows] == ["0", "1", "2"]
    assert all(r["state"] == "complete" for r in rows)
    for n in range(3):
        assert (spec.search_dir / f"trial-{n}" / "summary.json").is_file()
    best = load_config(spec.search_dir / "best.yaml")
    assert best.train.lr == pytest.approx(study.best_trial.params["train.lr"])
    assert best.name is None and best.output_dir == str(tmp_path)
    html = (spec.search_dir / "search.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 and "Trials" in html
    assert "trial" in written["table"] and (spec.search_dir / "study.db").is_file()


def test_resumed_search_continues_numbering(tmp_path):
    # A stand-in for run_finetune keeps this fast: the numbering is the study's business.
    seen = []

    def fake_run(cfg, log, live_progress, extra_handlers):
        seen.append(cfg.name)
        return {"best_validation": {"value": cfg.train.lr}, "test": {}}

    base = load_config(None, [f"output_dir={tmp_path}", "name=s"])
    run_search(base, _spec(tmp_path, 2), log=lambda _: None, train_fn=fake_run)
    study = run_search(base, _spec(tmp_path, 3), log=lambda _: None, train_fn=fake_run)
    assert seen == ["trial-0", "trial-1", "trial-2"]
    assert [t.number for t in study.trials] == [0, 1, 2]
    run_search(base, _spec(tmp_path, 3), log=lambda _: None, train_fn=fake_run)
    assert len(seen) == 3  # budget reached: nothing more runs


def test_pruned_trial_is_marked(tmp_path):
    def fake_run(cfg, log, live_progress, extra_handlers):
        # Trials 0 and 1 score well at every eval; trial 2 scores badly and must be pruned.
        value = 0.1 if cfg.name == "trial-2" else 0.9
        (tmp_path / "s" / cfg.name).mkdir(parents=True, exist_ok=True)
        for step in (1, 2, 3):
            state = SimpleNamespace(step=step, eval_metrics={"accuracy": value})
            for handler in extra_handlers:
                handler.eval_end(state)
        return {"best_validation": {"value": value}, "test": {}}

    base = load_config(None, [f"output_dir={tmp_path}", "name=s"])
    study = run_search(
        base, _spec(tmp_path, 3, pruner="median"), log=lambda _: None, train_fn=fake_run
    )
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    marker = (tmp_path / "s" / "trial-2" / "pruned.json").read_text()
    assert '"pruned"' in marker and '"step": 1' in marker
    write_results(study, base, tmp_path / "s")
    assert _rows(tmp_path / "s" / "trials.csv")[2]["state"] == "pruned"


@pytest.mark.slow
def test_two_workers_share_one_sqlite_study(tiny_csv, tiny_bert, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("train.lr: {type: float, low: 1e-4, high: 1e-2, log: true}\n")
    args = [*tiny_overrides(tiny_csv, tiny_bert, tmp_path, *FAST), f"space={space}", "trials=3"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    cmd = [sys.executable, "-m", "pretune", "search", *args, "workers=2"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(tmp_path / "s" / "trials.csv")
    # Two workers may each start the last trial before either sees the budget reached.
    assert 3 <= len(rows) <= 4
    assert sorted(int(r["trial"]) for r in rows) == list(range(len(rows)))
    assert all(r["state"] == "complete" for r in rows)


def _scored_search(tmp_path: Path, trials: int, score) -> tuple:
    """A search whose trials score `score(cfg)` (a stand-in for run_finetune: fast)."""

    def fake_run(cfg, log, live_progress, extra_handlers):
        return {"best_validation": {"value": score(cfg)}, "test": {}}

    base = load_config(None, [f"output_dir={tmp_path}", "name=s"])
    spec = _spec(tmp_path, trials, sampler="random", pruner="none")
    study = run_search(base, spec, log=lambda _: None, train_fn=fake_run)
    return write_results(study, base, spec.search_dir), spec.search_dir


def test_no_importances_from_too_few_trials_and_the_reason_is_given(tmp_path):
    written, folder = _scored_search(tmp_path, 2, lambda cfg: 0.5)  # two trials that tie
    assert written["importances"] == {}
    assert "2 completed trial(s)" in written["importances_note"]
    assert (folder / "importances.json").read_text().strip() == "{}"
    assert "not estimated from 2 completed trial(s)" in (folder / "search.html").read_text()


def test_importances_from_enough_trials(tmp_path):
    written, _ = _scored_search(tmp_path, 6, lambda cfg: cfg.train.lr)
    assert written["importances_note"] is None
    assert set(written["importances"]) == set(SPACE)
    assert sum(written["importances"].values()) == pytest.approx(1.0)
