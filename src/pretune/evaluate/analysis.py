"""Everything a finished classifier run records beyond plain test metrics (docs/architecture.md,
"evaluate"): score metrics, ROC / PR / reliability curves, calibration, error analysis and
efficiency, as the ``summary.json`` sections the report renders.

    probabilities (N×K, float32) ──> score metrics, curves, calibration, errors
    model + one split            ──> efficiency
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pretune.data.encode import EncodedSplit
from pretune.evaluate.calibration import calibration_section, reliability_diagram
from pretune.evaluate.efficiency import efficiency_section
from pretune.evaluate.errors import error_section
from pretune.evaluate.evaluator import predict_probabilities
from pretune.evaluate.scores import (
    ProbabilityCollector,
    average_precision,
    pr_curve,
    roc_auc,
    roc_curve,
    score_metrics,
)

__all__ = [
    "analyse_test_split",
    "collect_probabilities",
    "curves_section",
    "downsample",
    "evaluation_sections",
]

MAX_POINTS = 200


def collect_probabilities(
    model: torch.nn.Module, split: EncodedSplit, batch_size: int, device: torch.device
) -> np.ndarray:
    """Class probabilities (N, K) float32 of `split`, in row order, batch by batch."""
    collector = None
    for indices, probs in predict_probabilities(model, split, batch_size, device):
        if collector is None:
            collector = ProbabilityCollector(len(split), probs.shape[1])
        collector.update(indices, probs)
    if collector is None:
        raise ValueError("cannot collect probabilities of an empty split")
    return collector.result()


def downsample(xs: np.ndarray, ys: np.ndarray, limit: int = MAX_POINTS) -> tuple[list, list]:
    """At most `limit` evenly spaced points of a curve, first and last kept."""
    if len(xs) > limit:
        keep = np.unique(np.linspace(0, len(xs) - 1, limit).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return np.round(xs, 6).tolist(), np.round(ys, 6).tolist()


def curves_section(probs: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict:
    """``{"roc": {label: ...}, "pr": {label: ...}, "reliability": ...}``; classes absent from
    `labels` have no ROC/PR curve."""
    roc: dict[str, Any] = {}
    pr: dict[str, Any] = {}
    for k, name in enumerate(names):
        positive = labels == k
        if not positive.any():
            continue
        auc = roc_auc(positive, probs[:, k])
        if auc is not None:
            fpr, tpr = downsample(*roc_curve(positive, probs[:, k]))
            roc[name] = {"fpr": fpr, "tpr": tpr, "auc": auc}
        precision, recall = pr_curve(positive, probs[:, k])
        recall_pts, precision_pts = downsample(recall[::-1], precision[::-1])
        pr[name] = {
            "precision": precision_pts,
            "recall": recall_pts,
            "auc": average_precision(positive, probs[:, k]),
        }
    return {"roc": roc, "pr": pr, "reliability": reliability_diagram(probs, labels)}


def evaluation_sections(
    probs: np.ndarray,
    labels: np.ndarray,
    texts: Sequence[str],
    lengths: Sequence[int],
    names: Sequence[str],
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Score metrics (``"scores"``), curves, calibration (temperature fitted on `val`) and
    errors of one labelled split."""
    labels = np.asarray(labels, dtype=np.int64)
    val_probs, val_labels = val if val is not None else (None, None)
    return {
        "scores": score_metrics(labels, probs),
        "curves": curves_section(probs, labels, names),
        "calibration": calibration_section(probs, labels, val_probs, val_labels),
        "errors": error_section(probs, labels, texts, lengths, names),
    }


def analyse_test_split(
    model: torch.nn.Module,
    splits: dict[str, Any],
    encoded: dict[str, EncodedSplit],
    label_names: Sequence[str],
    summary: dict[str, Any],
    device: torch.device,
    batch_size: int = 64,
    state: Any = None,
) -> dict[str, Any]:
    """The summary sections of a finished fine-tuning run (see /docs/evaluation.md).

    Args:
        model: the final (exported) model, returning ``.logits``.
        splits: split name -> dataset with a "text" column (for the error tables).
        encoded: split name -> EncodedSplit with labels ("test" and, for calibration,
            "validation").
        label_names: class names in id order.
        summary: the run summary so far (its ``test`` metrics and ``timing`` are read).
        device: where the model is.
        batch_size: evaluation batch size.
        state: the loop's final State (examples and tokens seen, for the training rates).

    Returns:
        ``{"test", "curves", "calibration", "errors", "efficiency"}`` (only ``efficiency``
        when there is no test split), ready for ``summary.update``.
    """
    started = time.perf_counter()
    out: dict[str, Any] = {}
    test = encoded.get("test")
    if test is not None and len(test) > 0 and test.labels is not None:
        probs = collect_probabilities(model, test, batch_size, device)
        val = None
        validation = encoded.get("validation")
        if validation is not None and len(validation) > 0 and validation.labels is not None:
            val_probs = collect_probabilities(model, validation, batch_size, device)
            val = (val_probs, np.asarray(validation.labels))
        texts = list(splits["test"]["text"][:])
        labels = np.asarray(test.labels)
        sections = evaluation_sections(probs, labels, texts, test.lengths, label_names, val)
        out["test"] = {**summary.get("test", {}), **sections.pop("scores")}
        out.update(sections)
    timing = summary.get("timing", {})
    split = next(s for key in ("test", "validation", "train") if len(s := encoded[key]) > 0)
    out["efficiency"] = efficiency_section(
        model,
        split,
        device,
        train_seconds=timing.get("train_seconds"),
        train_examples=getattr(state, "examples_seen", None),
        train_tokens=getattr(state, "tokens_seen", None),
    )
    if timing.get("train_examples_per_s") is not None:  # the summary's own figure, unrounded
        out["efficiency"]["train_examples_per_s"] = timing["train_examples_per_s"]
    out["efficiency"]["analysis_seconds"] = round(time.perf_counter() - started, 2)
    return out
