"""Score metrics, MCC and regression metrics must equal scikit-learn's on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from pretune.evaluate.scores import (
    ProbabilityCollector,
    StreamingRegressionMetrics,
    average_precision,
    log_loss,
    matthews_corrcoef,
    mean_absolute_error,
    mean_squared_error,
    one_vs_rest,
    pr_curve,
    r2_score,
    roc_auc,
    roc_curve,
    score_metrics,
    top_k_accuracy,
)


def _problem(k: int, n: int = 300, seed: int = 0, round_to: int | None = None):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, k))
    x[np.arange(n), y] += 1.0
    if round_to is not None:  # coarse scores -> many ties
        x = np.round(x, round_to)
    p = np.exp(x)
    return y, p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("round_to", [None, 1])
def test_score_metrics_equal_sklearn(k, round_to):
    y, p = _problem(k, round_to=round_to)
    got = score_metrics(y, p)
    roc = skm.roc_auc_score(y, p[:, 1]) if k == 2 else skm.roc_auc_score(y, p, multi_class="ovr")
    assert got["roc_auc_macro"] == pytest.approx(roc, abs=1e-12)
    onehot = np.eye(k)[y]
    assert got["pr_auc_macro"] == pytest.approx(
        skm.average_precision_score(onehot, p, average="macro"), abs=1e-12
    )
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=range(k)), abs=1e-12)
    assert got["mcc"] == pytest.approx(skm.matthews_corrcoef(y, p.argmax(1)), abs=1e-12)
    if k > 2:
        assert got["top2_accuracy"] == pytest.approx(
            skm.top_k_accuracy_score(y, p, k=2, labels=range(k)), abs=1e-12
        )
    else:
        assert got["top2_accuracy"] == 1.0


def test_binary_curves_equal_sklearn():
    y, p = _problem(2, round_to=1)
    s = p[:, 1]
    fpr, tpr = roc_curve(y == 1, s)
    sk_fpr, sk_tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert roc_auc(y == 1, s) == pytest.approx(skm.roc_auc_score(y, s))
    precision, recall = pr_curve(y == 1, s)
    sk_p, sk_r, _ = skm.precision_recall_curve(y, s, drop_intermediate=False)
    # sklearn stops once full recall is reached; ours keeps the lower thresholds too.
    np.testing.assert_allclose(precision[-len(sk_p) :], sk_p)
    np.testing.assert_allclose(recall[-len(sk_r) :], sk_r)
    assert average_precision(y == 1, s) == pytest.approx(skm.average_precision_score(y, s))


def test_undefined_class_is_left_out_of_the_macro():
    y, p = _problem(3)
    p = np.c_[p, np.zeros(len(y))]  # a 4th class that never occurs
    macro, per_class = one_vs_rest(y, p, "roc_auc")
    assert per_class[3] is None
    assert macro == pytest.approx(skm.roc_auc_score(y, p[:, :3] / p[:, :3].sum(1, keepdims=True),
                                                    multi_class="ovr"))  # fmt: skip
    assert roc_auc(np.ones(4), np.arange(4)) is None
    assert average_precision(np.zeros(4), np.arange(4)) is None


def test_matthews_and_logloss_edge_cases():
    assert matthews_corrcoef(np.array([[5, 0], [0, 0]])) == 0.0  # one class only: undefined
    y = np.array([0, 1])
    p = np.array([[1.0, 0.0], [1.0, 0.0]])  # certain and wrong on row 2: clipped, finite
    assert np.isfinite(log_loss(y, p))
    assert top_k_accuracy(np.array([2]), np.array([[0.5, 0.3, 0.2]]), k=2) == 0.0


def test_probability_collector_restores_row_order():
    collector = ProbabilityCollector(4, 2)
    collector.update([3, 1], torch.tensor([[0.1, 0.9], [0.2, 0.8]]))
    with pytest.raises(ValueError, match="2 rows"):
        collector.result()
    collector.update([0, 2], np.array([[0.3, 0.7], [0.4, 0.6]]))
    out = collector.result()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], [0.3, 0.2, 0.4, 0.1])


def test_regression_metrics_equal_sklearn_streamed():
    rng = np.random.default_rng(1)
    y = rng.normal(size=101) * 3 + 2
    pred = y + rng.normal(size=101)
    assert mean_squared_error(y, pred) == pytest.approx(skm.mean_squared_error(y, pred))
    assert mean_absolute_error(y, pred) == pytest.approx(skm.mean_absolute_error(y, pred))
    assert r2_score(y, pred) == pytest.approx(skm.r2_score(y, pred))
    m = StreamingRegressionMetrics()
    for start in range(0, 101, 17):
        m.update(torch.from_numpy(pred[start : start + 17]), y[start : start + 17])
    got = m.compute()
    assert got["count"] == 101
    assert got["mse"] == pytest.approx(skm.mean_squared_error(y, pred), rel=1e-10)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-10)
    assert got["r2"] == pytest.approx(skm.r2_score(y, pred), rel=1e-10)
    assert r2_score([1.0, 1.0], [1.0, 1.0]) == 1.0 == skm.r2_score([1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError):
        m.update(np.zeros(2), np.zeros(3))
