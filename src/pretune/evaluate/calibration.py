"""Calibration: does a 0.9 confidence mean 90% right?

- `expected_calibration_error`: the gap between confidence and accuracy, averaged over 15
  equal-width confidence bins weighted by how many examples fall in each.
- `reliability_diagram`: the per-bin points behind it (for the report's plot).
- `fit_temperature`: one scalar T, fitted on the validation split by minimising the
  negative log-likelihood of softmax(log p / T) (LBFGS on log T, so T stays positive);
  it changes confidences, never the predicted class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pretune.tasks.result_checks import MIN_EVAL_ROWS

__all__ = [
    "apply_temperature",
    "calibration_section",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_diagram",
]

N_BINS = 15


def _bins(probs: np.ndarray, labels: np.ndarray, n_bins: int):
    confidence = probs.max(axis=1).astype(np.float64)
    correct = (probs.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    # Bins are (lo, hi]; confidence 0 cannot occur for a max over K >= 1 classes.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(which, weights=correct, minlength=n_bins)
    return count, conf_sum, acc_sum


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS
) -> float:
    """ECE = Σ_b (n_b / N) |accuracy_b − confidence_b| over `n_bins` equal-width bins.

    Args:
        probs: Class probabilities (N, K).
        labels: True class ids (N,).
        n_bins: Number of bins on [0, 1].
    """
    if len(labels) == 0:
        return 0.0
    _, conf_sum, acc_sum = _bins(probs, labels, n_bins)
    return float(np.sum(np.abs(acc_sum - conf_sum)) / len(labels))


def reliability_diagram(
    probs: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS
) -> dict[str, Any]:
    """Mean confidence, accuracy and count of each non-empty bin, plus the ECE."""
    count, conf_sum, acc_sum = _bins(probs, labels, n_bins)
    used = count > 0
    return {
        "confidence": (conf_sum[used] / count[used]).round(6).tolist(),
        "accuracy": (acc_sum[used] / count[used]).round(6).tolist(),
        "count": count[used].astype(int).tolist(),
        "ece": expected_calibration_error(probs, labels, n_bins),
    }


def _log_probs(probs: np.ndarray) -> torch.Tensor:
    # log p are the logits up to a per-row constant, which softmax ignores.
    return torch.log(torch.as_tensor(probs, dtype=torch.float64).clamp_min(1e-12))


def fit_temperature(probs: np.ndarray, labels: np.ndarray, max_iter: int = 100) -> float:
    """The temperature T that minimises the NLL of softmax(log probs / T) on these examples."""
    logits = _log_probs(probs)
    target = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), target)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp().item())


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities rescaled by temperature T (same argmax, softer for T > 1)."""
    scaled = torch.softmax(_log_probs(probs) / temperature, dim=1)
    return scaled.numpy().astype(np.float32)


def calibration_section(
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    val_probs: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
) -> dict[str, float | None]:
    """``{"ece", "ece_after", "temperature"}``: the last two only when at least MIN_EVAL_ROWS
    validation rows are given (a temperature fitted to a handful of rows follows those rows:
    9 rows once gave T = 0.001)."""
    section: dict[str, float | None] = {
        "ece": expected_calibration_error(test_probs, test_labels),
        "ece_after": None,
        "temperature": None,
    }
    if val_labels is not None and val_probs is not None and len(val_labels) >= MIN_EVAL_ROWS:
        temperature = fit_temperature(val_probs, val_labels)
        section["temperature"] = temperature
        section["ece_after"] = expected_calibration_error(
            apply_temperature(test_probs, temperature), test_labels
        )
    return section
