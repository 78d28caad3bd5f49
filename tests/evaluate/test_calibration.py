"""ECE, the reliability diagram and temperature scaling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pretune.evaluate.calibration import (
    apply_temperature,
    calibration_section,
    expected_calibration_error,
    fit_temperature,
    reliability_diagram,
)


def _ece_by_hand(probs, labels, n_bins=15):
    conf = probs.max(1)
    correct = probs.argmax(1) == labels
    total = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


def _overconfident(n=2000, k=4, true_t=2.5, seed=0):
    """Labels drawn from softmax(z / true_t) while the model reports softmax(z): too sure."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 3
    calibrated = np.exp(z / true_t)
    calibrated /= calibrated.sum(1, keepdims=True)
    u = rng.random((n, 1))
    labels = np.minimum((calibrated.cumsum(1) < u).sum(1), k - 1)  # one draw per row
    reported = np.exp(z)
    return reported / reported.sum(1, keepdims=True), labels


def test_ece_matches_the_definition():
    probs, labels = _overconfident()
    assert expected_calibration_error(probs, labels) == pytest.approx(_ece_by_hand(probs, labels))
    perfect = np.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(perfect, np.array([0, 1, 2, 0])) == 0.0


def test_reliability_diagram_bins_add_up():
    probs, labels = _overconfident(n=500)
    diagram = reliability_diagram(probs, labels)
    assert sum(diagram["count"]) == 500
    assert len(diagram["confidence"]) == len(diagram["accuracy"]) <= 15
    assert np.all(np.diff(diagram["confidence"]) >= 0)
    # Overconfident: accuracy below confidence in the top bin.
    assert diagram["accuracy"][-1] < diagram["confidence"][-1]


def test_temperature_recovers_the_true_one_and_lowers_ece():
    probs, labels = _overconfident(n=4000, true_t=2.5)
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(2.5, rel=0.1)
    scaled = apply_temperature(probs, t)
    np.testing.assert_array_equal(scaled.argmax(1), probs.argmax(1))  # same predictions
    assert (
        expected_calibration_error(scaled, labels) < expected_calibration_error(probs, labels) / 2
    )


def test_calibration_section_fits_on_validation_only():
    val_probs, val_labels = _overconfident(seed=1)
    test_probs, test_labels = _overconfident(seed=2)
    section = calibration_section(test_probs, test_labels, val_probs, val_labels)
    assert section["temperature"] == pytest.approx(fit_temperature(val_probs, val_labels))
    assert section["ece_after"] < section["ece"]
    assert calibration_section(test_probs, test_labels) == {
        "ece": section["ece"],
        "ece_after": None,
        "temperature": None,
    }


def test_no_temperature_from_too_few_validation_rows():
    val_probs, val_labels = _overconfident(seed=1)
    test_probs, test_labels = _overconfident(seed=2)
    few = calibration_section(test_probs, test_labels, val_probs[:9], val_labels[:9])
    assert few["temperature"] is None and few["ece_after"] is None
    enough = calibration_section(test_probs, test_labels, val_probs[:30], val_labels[:30])
    assert enough["temperature"] == pytest.approx(fit_temperature(val_probs[:30], val_labels[:30]))
