"""Ensemble finished runs by averaging their class probabilities.

    pretune ensemble runs/a runs/b runs/c [data=test.csv] [--output runs/abc]

Members must share their label set (by name; the order may differ, columns are aligned). The
test split is the first run's, re-created from its `config.yaml` (same source, seed and
fractions, so the same rows), or any labelled file given as `data=`. The ensemble folder holds
`ensemble.json` (members, labels, metrics); `pretune predict <ensemble folder> INPUT` predicts
with it like with a single run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretune.data.sources import load_source
from pretune.errors import CheckpointError, DataError
from pretune.files import write_json_atomic
from pretune.metrics.classification import StreamingClassificationMetrics
from pretune.process_state import leaves_process_as_found
from pretune.runs import (
    ENSEMBLE_FILE,
    average_probabilities,
    member_labels,
    member_probabilities,
    run_config,
    run_split,
)

__all__ = ["run_ensemble", "score_probabilities"]


def _check_same_labels(runs: list[Path], labels: list[list[str]]) -> None:
    reference = set(labels[0])
    for run, names in zip(runs[1:], labels[1:], strict=True):
        if set(names) != reference:
            missing = sorted(reference - set(names))
            extra = sorted(set(names) - reference)
            raise DataError(
                f"ensemble members must share their labels: {run} differs from {runs[0]} "
                f"(missing {missing or 'none'}, extra {extra or 'none'})"
            )


def score_probabilities(probs: np.ndarray, labels: list[int], names: list[str]) -> dict[str, Any]:
    """Classification metrics of (N, K) probabilities against label ids."""
    metrics = StreamingClassificationMetrics(len(names))
    # log-probabilities as logits: softmax gives the probabilities back, so the loss is right
    logits = torch.from_numpy(np.log(np.clip(probs, 1e-12, None)))
    metrics.update(logits, torch.tensor(labels))
    return metrics.compute(names)


def _test_rows(first_run: Path, data: str | None) -> tuple[list[str], list[str]]:
    """(texts, label names) of the test data: `data` or the first run's re-created test split."""
    if data is not None:
        dataset = load_source(data)
        if "label" not in dataset.column_names:
            raise DataError(f"data={data} has no label column; ensembles are scored on labels")
    else:
        if not (first_run / "config.yaml").is_file():
            raise CheckpointError(f"{first_run} has no config.yaml; give data=<labelled file>")
        dataset = run_split(run_config(first_run), "test")
        if len(dataset) == 0:
            raise DataError(
                f"{first_run}'s config has no test split (data.test_fraction=0); give data=<file>"
            )
    texts = ["" if t is None else str(t) for t in dataset["text"]]
    return texts, [str(label) for label in dataset["label"]]


@leaves_process_as_found()
def run_ensemble(
    runs: list[Path],
    output: Path | None = None,
    data: str | None = None,
    batch_size: int = 64,
    log: Any = print,
) -> dict[str, Any]:
    """Score each member and their average on test data; save the ensemble folder.

    Returns:
        {"members": [{"run", "accuracy", "macro_f1"}], "ensemble": {...}, "output": path}.
    """
    if len(runs) < 2:
        raise DataError("an ensemble needs at least two runs")
    runs = [Path(run).resolve() for run in runs]
    labels = [member_labels(run) for run in runs]
    _check_same_labels(runs, labels)
    names = labels[0]
    texts, gold = _test_rows(runs[0], data)
    unknown = sorted(set(gold) - set(names))
    if unknown:
        raise DataError(f"test labels {unknown} are not among the members' labels {names}")
    ids = [names.index(label) for label in gold]
    log(f"ensemble of {len(runs)} runs on {len(texts)} test rows")
    member_probs, member_names = member_probabilities(runs, texts, batch_size)
    rows = []
    for run, probs, own in zip(runs, member_probs, member_names, strict=True):
        scores = score_probabilities(average_probabilities([probs], [own], names), ids, names)
        rows.append({"run": str(run), **_headline(scores)})
    average = average_probabilities(member_probs, member_names, names)
    ensemble = _headline(score_probabilities(average, ids, names))
    output = output or runs[0].parent / f"ensemble-{time.strftime('%Y%m%d-%H%M%S')}"
    output.mkdir(parents=True, exist_ok=True)
    record = {
        "members": [str(run) for run in runs],
        "labels": names,
        "test": data or f"{runs[0]}/config.yaml test split",
        "member_metrics": rows,
        "metrics": ensemble,
    }
    write_json_atomic(output / ENSEMBLE_FILE, record)
    return {"members": rows, "ensemble": ensemble, "output": str(output)}


def _headline(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: scores[k] for k in ("accuracy", "macro_f1", "loss", "count")}
