"""Streaming metrics must equal scikit-learn's, computed batch by batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from pretune.metrics.classification import (
    StreamingClassificationMetrics,
    accuracy,
    confusion_matrix_update,
    per_class_scores,
    precision_recall_f1,
)

TOL = 1e-9


def _feed(m: StreamingClassificationMetrics, logits, labels, sizes, as_torch: bool) -> None:
    start = 0
    for size in sizes:
        chunk_logits = logits[start : start + size]
        chunk_labels = labels[start : start + size]
        if as_torch:
            chunk_logits = torch.from_numpy(chunk_logits)
            chunk_labels = torch.from_numpy(chunk_labels)
        m.update(chunk_logits, chunk_labels)
        start += size
    assert start == len(labels)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _check_against_sklearn(result: dict, y_true, y_pred, probs, k: int) -> None:
    assert result["count"] == len(y_true)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=TOL)
    for average in ("macro", "micro", "weighted"):
        f1 = skm.f1_score(y_true, y_pred, average=average, zero_division=0)
        assert result[f"{average}_f1"] == pytest.approx(f1, abs=TOL)
    assert result["macro_precision"] == pytest.approx(
        skm.precision_score(y_true, y_pred, average="macro", zero_division=0), abs=TOL
    )
    assert result["macro_recall"] == pytest.approx(
        skm.recall_score(y_true, y_pred, average="macro", zero_division=0), abs=TOL
    )
    assert (
        result["confusion_matrix"] == skm.confusion_matrix(y_true, y_pred, labels=range(k)).tolist()
    )
    assert result["loss"] == pytest.approx(skm.log_loss(y_true, probs, labels=range(k)), abs=TOL)
    p, r, f, s = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=range(k), zero_division=0
    )
    for i, scores in enumerate(result["per_class"].values()):
        assert scores["precision"] == pytest.approx(p[i], abs=TOL)
        assert scores["recall"] == pytest.approx(r[i], abs=TOL)
        assert scores["f1"] == pytest.approx(f[i], abs=TOL)
        assert scores["support"] == s[i]


@pytest.mark.parametrize("as_torch", [False, True])
def test_matches_sklearn_random(as_torch: bool) -> None:
    rng = np.random.default_rng(0)
    k, n = 5, 1000
    logits = rng.normal(size=(n, k)) * 2.0
    labels = rng.integers(0, k, size=n)
    sizes = [1, 7, 300, 2, 190, 500]
    m = StreamingClassificationMetrics(k)
    _feed(m, logits, labels, sizes, as_torch)
    names = ["a", "b", "c", "d", "e"]
    result = m.compute(names)
    assert list(result["per_class"]) == names
    _check_against_sklearn(result, labels, logits.argmax(axis=1), _softmax(logits), k)
    cm = np.asarray(result["confusion_matrix"])
    for average in ("macro", "micro", "weighted"):
        expected = skm.precision_recall_fscore_support(
            labels, logits.argmax(axis=1), average=average, zero_division=0
        )[:3]
        assert precision_recall_f1(cm, average) == pytest.approx(expected, abs=TOL)


def test_float32_torch_logits_match() -> None:
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(size=(64, 3)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 3, size=64))
    m = StreamingClassificationMetrics(3)
    m.update(logits, labels)
    probs = _softmax(logits.double().numpy())
    result = m.compute()
    assert list(result["per_class"]) == ["0", "1", "2"]
    assert result["loss"] == pytest.approx(skm.log_loss(labels, probs, labels=range(3)), abs=TOL)


def test_class_never_predicted_zero_division() -> None:
    k = 4
    y_true = np.array([0, 1, 2, 3, 3, 2, 1, 0, 3])
    y_pred = np.array([0, 1, 1, 0, 0, 1, 1, 0, 1])  # classes 2 and 3 never predicted
    logits = np.full((len(y_true), k), -3.0)
    logits[np.arange(len(y_true)), y_pred] = 2.0
    m = StreamingClassificationMetrics(k)
    m.update(logits[:4], y_true[:4])
    m.update(logits[4:], y_true[4:])
    result = m.compute()
    assert result["per_class"]["2"]["precision"] == 0.0
    assert result["per_class"]["3"]["f1"] == 0.0
    _check_against_sklearn(result, y_true, y_pred, _softmax(logits), k)


def test_class_absent_everywhere_is_not_averaged() -> None:
    # Class 2 is neither in the labels nor predicted: like sklearn without `labels=`.
    y_true = np.array([0, 1, 1, 0, 1])
    y_pred = np.array([0, 1, 0, 0, 1])
    logits = np.eye(3)[y_pred] * 4.0
    m = StreamingClassificationMetrics(3)
    m.update(logits, y_true)
    result = m.compute(["x", "y", "z"])
    assert result["macro_f1"] == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=TOL
    )
    assert result["per_class"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_ignore_index_is_skipped() -> None:
    rng = np.random.default_rng(2)
    k, n = 5, 200
    logits = rng.normal(size=(n, k))
    labels = rng.integers(0, k, size=n)
    masked = labels.copy()
    masked[rng.random(n) < 0.3] = -100
    keep = masked != -100
    m = StreamingClassificationMetrics(k)
    _feed(m, logits, masked, [50, 50, 100], as_torch=True)
    result = m.compute()
    _check_against_sklearn(
        result, masked[keep], logits[keep].argmax(axis=1), _softmax(logits[keep]), k
    )
    assert result["count"] == int(keep.sum())


def test_token_shaped_logits_are_flattened() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(4, 6, 3))
    labels = rng.integers(0, 3, size=(4, 6))
    labels[:, -2:] = -100
    m = StreamingClassificationMetrics(3)
    m.update(torch.from_numpy(logits), torch.from_numpy(labels))
    flat_logits, flat_labels = logits.reshape(-1, 3), labels.reshape(-1)
    keep = flat_labels != -100
    _check_against_sklearn(
        m.compute(),
        flat_labels[keep],
        flat_logits[keep].argmax(axis=1),
        _softmax(flat_logits[keep]),
        3,
    )


def test_empty_and_all_ignored() -> None:
    m = StreamingClassificationMetrics(2)
    m.update(np.zeros((3, 2)), np.array([-100, -100, -100]))
    result = m.compute()
    assert result["count"] == 0
    assert result["accuracy"] == 0.0 and result["macro_f1"] == 0.0
    assert math.isnan(result["loss"])
    m.update(np.array([[0.0, 1.0]]), np.array([1]))
    assert m.compute()["accuracy"] == 1.0
    m.reset()
    assert m.compute()["count"] == 0


def test_memory_is_constant_in_batches() -> None:
    m = StreamingClassificationMetrics(3)
    rng = np.random.default_rng(4)
    for _ in range(50):
        m.update(rng.normal(size=(16, 3)), rng.integers(0, 3, size=16))
    state = {k: v for k, v in vars(m).items()}
    assert set(state) == {"num_labels", "confusion", "loss_sum", "count"}
    assert m.confusion.shape == (3, 3)
    assert m.count == 800


def test_bad_inputs_raise() -> None:
    m = StreamingClassificationMetrics(3)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        m.update(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="label 3"):
        m.update(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="2 rows"):
        m.update(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="label names"):
        m.compute(["a"])
    with pytest.raises(ValueError, match="average"):
        precision_recall_f1(np.eye(3, dtype=np.int64), "binary")
    with pytest.raises(ValueError, match="y_pred contains label 5"):
        confusion_matrix_update(np.zeros((3, 3), dtype=np.int64), [0], [5])
    with pytest.raises(ValueError):
        StreamingClassificationMetrics(0)


def test_pure_functions() -> None:
    cm = np.zeros((3, 3), dtype=np.int64)
    out = confusion_matrix_update(cm, np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]))
    assert out is cm
    assert cm.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert accuracy(cm) == 0.75
    assert accuracy(np.zeros((2, 2), dtype=np.int64)) == 0.0
    scores = per_class_scores(cm)
    assert scores["support"] == [1, 1, 2]
    assert scores["precision"] == pytest.approx([1.0, 0.0, 2 / 3])
    assert scores["recall"] == pytest.approx([1.0, 0.0, 1.0])
    assert scores["f1"] == pytest.approx([1.0, 0.0, 0.8])
