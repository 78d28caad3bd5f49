"""`pretune cv` on the tiny model: stratified folds, one run folder each, mean ± std, ensemble."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from helpers import make_rows, tiny_overrides
from pretune.cli.main import main
from pretune.errors import DataError
from pretune.recipes.cv import aggregate, ensemble_predict, fold_indices


def test_fold_indices_are_stratified_and_partition_the_rows():
    labels = [label for _, label in make_rows(10)]
    folds = fold_indices(labels, 3, seed=0)
    rows = np.sort(np.concatenate(folds))
    np.testing.assert_array_equal(rows, np.arange(30))
    for fold in folds:
        counts = Counter(labels[i] for i in fold)
        assert set(counts) == {"sport", "tech", "money"} and max(counts.values()) <= 4
    assert [f.tolist() for f in fold_indices(labels, 3, 0)] == [f.tolist() for f in folds]
    with pytest.raises(DataError, match="fewer rows than folds=11"):
        fold_indices(labels, 11, 0)


def test_aggregate_mean_and_sample_std():
    per_fold = [{"metrics": {"accuracy": a, "macro_f1": None}} for a in (0.7, 0.8, 0.9)]
    mean, std = aggregate(per_fold)
    assert mean["accuracy"] == pytest.approx(0.8) and std["accuracy"] == pytest.approx(0.1)
    assert "macro_f1" not in mean


@pytest.mark.slow
def test_cv_cli_runs_three_folds_and_keeps_an_ensemble(tiny_csv, tiny_bert, tmp_path, capsys):
    overrides = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "name=cv3", "train.epochs=8")
    assert main(["cv", *overrides, "folds=3", "keep_models=true"]) == 0
    assert "mean ± std" in capsys.readouterr().out
    cv_dir = tmp_path / "cv3"
    result = json.loads((cv_dir / "cv.json").read_text())
    assert [f["fold"] for f in result["per_fold"]] == [1, 2, 3]
    assert sum(f["sizes"]["test"] for f in result["per_fold"]) == 150  # every row tested once
    for fold in result["per_fold"]:
        run = Path(fold["run_dir"])
        assert fold["sizes"]["test"] == 50 and fold["sizes"]["validation"] > 0
        assert (run / "summary.json").is_file() and (run / "model" / "config.json").is_file()
        assert not (run / "checkpoints").exists()
    accuracies = [f["metrics"]["accuracy"] for f in result["per_fold"]]
    assert result["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert result["std"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
    assert result["mean"]["accuracy"] > 0.5  # chance is 1/3
    assert not (cv_dir / ".fold-data").exists()
    names, probs = ensemble_predict(cv_dir, ["goal match team league win", "bank shares profit"])
    assert sorted(names) == ["money", "sport", "tech"] and probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # The same name again is refused, not overwritten.
    assert main(["cv", *overrides, "folds=3"]) == 2
    assert "already exists" in capsys.readouterr().err
