"""Recipe: ensemble finished runs by averaging their class probabilities.

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

from pretune.config import load_config
from pretune.data.sources import load_source
from pretune.errors import CheckpointError, DataError
from pretune.files import write_json_atomic
from pretune.metrics.classification import StreamingClassificationMetrics
from pretune.process_state import leaves_process_as_found

__all__ = [
    "ENSEMBLE_FILE",
    "average_probabilities",
    "member_labels",
    "predict_ensemble",
    "run_ensemble",
    "score_probabilities",
]

ENSEMBLE_FILE = "ensemble.json"


def member_labels(run: Path) -> list[str]:
    """A finished run's label names in id order (from model/config.json)."""
    import json

    config = run / "model" / "config.json"
    if not config.is_file():
        raise CheckpointError(f"{run} has no model/config.json: give finished run folders")
    id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label", {})
    return [id2label[str(i)] for i in range(len(id2label))]


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


def average_probabilities(
    member_probs: list[np.ndarray], member_names: list[list[str]], names: list[str]
) -> np.ndarray:
    """Mean of the members' (N, K) probabilities after putting their columns in `names` order."""
    aligned = [
        probs[:, [own.index(name) for name in names]]
        for probs, own in zip(member_probs, member_names, strict=True)
    ]
    return np.mean(aligned, axis=0)


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
        from pretune.data.text_classification import prepare_data

        config = first_run / "config.yaml"
        if not config.is_file():
            raise CheckpointError(f"{first_run} has no config.yaml; give data=<labelled file>")
        cfg = load_config(config)
        dataset = prepare_data(cfg.data, cfg.seed).splits["test"]
        if len(dataset) == 0:
            raise DataError(
                f"{first_run}'s config has no test split (data.test_fraction=0); give data=<file>"
            )
    texts = ["" if t is None else str(t) for t in dataset["text"]]
    return texts, [str(label) for label in dataset["label"]]


def _member_probabilities(
    runs: list[Path], texts: list[str], batch_size: int
) -> tuple[list[np.ndarray], list[list[str]]]:
    from pretune.recipes.predict import predict_texts

    probs, names = [], []
    for run in runs:
        own, p = predict_texts(run, texts, batch_size)
        names.append(own)
        probs.append(p)
    return probs, names


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
    member_probs, member_names = _member_probabilities(runs, texts, batch_size)
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


def predict_ensemble(
    folder: Path, texts: list[str], batch_size: int = 64
) -> tuple[list[str], np.ndarray]:
    """(label names, averaged probabilities (N, K)) of a saved ensemble on `texts`."""
    import json

    record = json.loads((folder / ENSEMBLE_FILE).read_text(encoding="utf-8"))
    runs = [Path(run) for run in record["members"]]
    missing = [str(run) for run in runs if not run.is_dir()]
    if missing:
        raise CheckpointError(f"{folder}: ensemble member(s) not found: {', '.join(missing)}")
    probs, names = _member_probabilities(runs, texts, batch_size)
    return record["labels"], average_probabilities(probs, names, record["labels"])
