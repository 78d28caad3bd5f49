"""Known values for every loss, config validation, and class weights through each loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pretune.catalog import load_recipe_config
from pretune.errors import ConfigError
from pretune.tasks.classify import ClassifyTask
from pretune.tasks.losses import LOSSES, build_loss, loss_accepts_weight


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(8, 4), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])


def test_every_loss_is_a_finite_differentiable_scalar(batch):
    logits, labels = batch
    for name in LOSSES.names():
        x = logits.clone().requires_grad_()
        loss = LOSSES.get(name)(x, labels)
        loss.backward()
        assert loss.ndim == 0 and math.isfinite(loss.item()), name
        assert x.grad is not None and x.grad.abs().sum() > 0, name


def test_focal_with_gamma_zero_is_cross_entropy(batch):
    logits, labels = batch
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    ce = F.cross_entropy(logits, labels, weight=weight)
    torch.testing.assert_close(LOSSES.get("focal")(logits, labels, gamma=0.0, weight=weight), ce)


def test_focal_down_weights_confident_examples():
    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0]])  # confident right, unsure
    labels = torch.tensor([0, 0])
    per_ce = F.cross_entropy(logits, labels, reduction="none")
    focal = LOSSES.get("focal")
    ratio_easy = focal(logits[:1], labels[:1], gamma=2) / per_ce[0]
    ratio_hard = focal(logits[1:], labels[1:], gamma=2) / per_ce[1]
    assert ratio_easy < 1e-3 and ratio_hard == pytest.approx(0.25)


def test_label_smoothing_equals_by_hand(batch):
    logits, labels = batch
    eps, k = 0.2, logits.shape[1]
    target = F.one_hot(labels, k) * (1 - eps) + eps / k
    by_hand = -(target * F.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(
        LOSSES.get("label_smoothing")(logits, labels, smoothing=eps), by_hand
    )


def test_gce_approaches_ce_as_q_goes_to_zero_and_is_mae_at_one(batch):
    logits, labels = batch
    ce = F.cross_entropy(logits, labels)
    gce = LOSSES.get("generalized_ce")
    assert float(gce(logits, labels, q=1e-4)) == pytest.approx(float(ce), rel=1e-3)
    p_y = logits.softmax(-1)[torch.arange(8), labels]
    torch.testing.assert_close(gce(logits, labels, q=1.0), (1 - p_y).mean())


def test_symmetric_ce_known_value():
    logits, labels = torch.tensor([[0.0, 0.0]]), torch.tensor([0])  # p_y = 0.5
    expected = 0.1 * math.log(2) + 1.0 * (-math.log(1e-4)) * 0.5
    assert float(LOSSES.get("symmetric_ce")(logits, labels)) == pytest.approx(expected)


def test_reverse_ce_part_is_bounded():
    # A confidently contradicted label costs CE ~ 100, the reverse part at most -log(1e-4).
    logits, labels = torch.tensor([[100.0, 0.0]]), torch.tensor([1])
    sce = LOSSES.get("symmetric_ce")(logits, labels, alpha=0.0, beta=1.0)
    assert float(sce) == pytest.approx(-math.log(1e-4))


def test_bootstrap_beta_one_is_ce_and_hard_mode_uses_the_guess(batch):
    logits, labels = batch
    boot = LOSSES.get("bootstrap")
    torch.testing.assert_close(boot(logits, labels, beta=1.0), F.cross_entropy(logits, labels))
    guess = logits.argmax(-1)
    expected = 0.5 * F.cross_entropy(logits, labels) + 0.5 * F.cross_entropy(logits, guess)
    torch.testing.assert_close(boot(logits, labels, beta=0.5, mode="hard"), expected)


def test_hinge_known_value():
    logits, labels = torch.tensor([[2.0, 1.5, -1.0]]), torch.tensor([0])
    # margins: max(0, 1 - 2 + 1.5) = 0.5, max(0, 1 - 2 - 1) = 0; mean over K = 3 classes.
    assert float(LOSSES.get("hinge")(logits, labels)) == pytest.approx(0.5 / 3)


def test_mse_is_brier_score_and_regression_for_float_targets():
    logits, labels = torch.tensor([[0.0, 0.0]]), torch.tensor([1])
    assert float(LOSSES.get("mse")(logits, labels)) == pytest.approx(0.25 + 0.25)
    out, target = torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0])
    assert float(LOSSES.get("mse")(out, target)) == pytest.approx((1 + 4) / 2)


@pytest.mark.parametrize("name", [n for n in LOSSES.names() if loss_accepts_weight(n)])
def test_class_weights_change_every_weighted_loss(name, batch):
    logits, labels = batch
    plain = build_loss(name)(logits, labels)
    weighted = build_loss(name, weight=torch.tensor([10.0, 1.0, 1.0, 1.0]))(logits, labels)
    uniform = build_loss(name, weight=torch.full((4,), 3.0))(logits, labels)
    torch.testing.assert_close(uniform, plain)  # weights are a weighted mean: scale-free
    assert not torch.allclose(weighted, plain)


def test_config_validates_loss_name_params_and_values():
    cfg = load_recipe_config("finetune", None, ["train.loss=focal", "train.loss_params.gamma=1.5"])
    assert (cfg.train.loss, cfg.train.loss_params) == ("focal", {"gamma": 1.5})
    with pytest.raises(ConfigError, match="did you mean 'focal'"):
        load_recipe_config("finetune", None, ["train.loss=focl"])
    with pytest.raises(ConfigError, match="gama \\(did you mean 'gamma'"):
        load_recipe_config("finetune", None, ["train.loss=focal", "train.loss_params.gama=1"])
    with pytest.raises(ConfigError, match="gamma must be >= 0"):
        load_recipe_config("finetune", None, ["train.loss=focal", "train.loss_params.gamma=-1"])
    with pytest.raises(ConfigError, match="does not support class weights"):
        load_recipe_config("finetune", None, ["train.loss=mse", "train.class_weights=balanced"])


def test_classify_task_uses_the_configured_loss(batch):
    logits, labels = batch

    class Fixed(torch.nn.Module):
        def forward(self, input_ids):
            return type("Out", (), {"logits": logits})()

    task = ClassifyTask(Fixed(), list("abcd"), loss="focal", loss_params={"gamma": 2.0})
    out = task({"input_ids": torch.zeros(8, 3, dtype=torch.long), "labels": labels})
    torch.testing.assert_close(out["loss"], LOSSES.get("focal")(logits, labels, gamma=2.0))
