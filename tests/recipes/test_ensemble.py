"""`pretune ensemble`: probability averaging, scoring, label checks, predicting with the folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import make_rows, tiny_overrides, write_csv
from pretune.cli.main import main
from pretune.config import load_config
from pretune.deploy.ensemble import run_ensemble, score_probabilities
from pretune.errors import DataError
from pretune.recipes.finetune import run_finetune
from pretune.runs import average_probabilities, predict_texts

FAST = ("train.max_steps=12", "model.max_length=32", "train.num_threads=1")


def _train(data: Path, model: Path, out: Path, name: str, *extra: str) -> Path:
    cfg = load_config(None, tiny_overrides(data, model, out, f"name={name}", *FAST, *extra))
    return Path(run_finetune(cfg, log=lambda _: None)["run_dir"])


@pytest.fixture(scope="module")
def two_runs(tiny_csv, tiny_bert, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("ensemble-runs")
    # same data split (seed 0) but different initialisation of the head via train.lr
    return (
        _train(tiny_csv, tiny_bert, out, "a"),
        _train(tiny_csv, tiny_bert, out, "b", "train.lr=1e-3", "train.optimizer=adam"),
    )


def test_columns_are_aligned_by_label_name() -> None:
    a = np.array([[0.7, 0.2, 0.1]])  # labels x, y, z
    b = np.array([[0.1, 0.5, 0.4]])  # labels z, x, y
    mean = average_probabilities([a, b], [["x", "y", "z"], ["z", "x", "y"]], ["x", "y", "z"])
    np.testing.assert_allclose(mean, [[0.6, 0.3, 0.1]])


def test_scores_of_probabilities() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    scores = score_probabilities(probs, [0, 1, 1], ["n", "p"])
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4])), rel=1e-5)


def test_ensemble_cli_scores_saves_and_predicts(two_runs, tmp_path, capsys) -> None:
    out = tmp_path / "ens"
    assert main(["ensemble", str(two_runs[0]), str(two_runs[1]), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ensemble" in printed and "accuracy" in printed
    record = json.loads((out / "ensemble.json").read_text())
    assert record["members"] == [str(r.resolve()) for r in two_runs]
    assert sorted(record["labels"]) == ["money", "sport", "tech"]
    summary = json.loads((two_runs[0] / "summary.json").read_text())
    member = record["member_metrics"][0]
    # the first run's test split was re-created exactly: same count and accuracy as its summary
    assert member["count"] == summary["test"]["count"]
    assert member["accuracy"] == pytest.approx(summary["test"]["accuracy"])
    assert 0 <= record["metrics"]["accuracy"] <= 1

    texts = ["match goal team coach league", "bank market shares profit"]
    names, probs = predict_texts(out, texts)
    names_a, probs_a = predict_texts(two_runs[0], texts)
    names_b, probs_b = predict_texts(two_runs[1], texts)
    assert names == names_a == names_b
    np.testing.assert_allclose(probs, (probs_a + probs_b) / 2, rtol=1e-5)


def test_ensemble_on_given_data(two_runs, tmp_path) -> None:
    data = write_csv(tmp_path / "extra.csv", make_rows(5, seed=7))
    result = run_ensemble(list(two_runs), tmp_path / "e2", data=str(data), log=lambda _: None)
    assert result["ensemble"]["count"] == 15


def test_label_mismatch_is_a_clear_error(two_runs, tiny_bert, tmp_path) -> None:
    rows = [(text, "other" if label == "money" else label) for text, label in make_rows(30)]
    data = write_csv(tmp_path / "other.csv", rows)
    odd = _train(data, tiny_bert, tmp_path, "odd", "train.max_steps=1")
    with pytest.raises(DataError, match=r"must share their labels.*missing \['money'\]"):
        run_ensemble([two_runs[0], odd], tmp_path / "e3", log=lambda _: None)
    assert main(["ensemble", str(two_runs[0])]) == 2  # one run is not an ensemble
