"""Optimizers by name, parameter groups and LR schedules."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch

from pretune.errors import ConfigError
from pretune.train.optim import (
    OPTIMIZERS,
    SCHEDULES,
    build_optimizer,
    build_scheduler,
    constant_factor,
    cosine_factor,
    linear_factor,
    parameter_groups,
)

WARMUP, TOTAL = 10, 110

# ---------------------------------------------------------------------------------------------
# Schedule factors


@pytest.mark.parametrize("factor", [linear_factor, cosine_factor, constant_factor])
def test_warmup_is_linear_from_one_over_warmup_to_one(factor) -> None:
    assert factor(0, WARMUP, TOTAL) == pytest.approx(0.1)
    assert factor(4, WARMUP, TOTAL) == pytest.approx(0.5)
    assert factor(9, WARMUP, TOTAL) == pytest.approx(1.0)
    assert factor(10, WARMUP, TOTAL) == pytest.approx(1.0)  # peak right after warm-up


def test_linear_factor_values() -> None:
    assert linear_factor(60, WARMUP, TOTAL) == pytest.approx(0.5)
    assert linear_factor(35, WARMUP, TOTAL) == pytest.approx(0.75)
    assert linear_factor(109, WARMUP, TOTAL) == pytest.approx(0.01)
    assert linear_factor(110, WARMUP, TOTAL) == 0.0
    assert linear_factor(500, WARMUP, TOTAL) == 0.0  # never negative


def test_cosine_factor_values() -> None:
    assert cosine_factor(60, WARMUP, TOTAL) == pytest.approx(0.5)
    assert cosine_factor(35, WARMUP, TOTAL) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine_factor(110, WARMUP, TOTAL) == pytest.approx(0.0, abs=1e-12)
    assert cosine_factor(500, WARMUP, TOTAL) == pytest.approx(0.0, abs=1e-12)


def test_constant_factor_values() -> None:
    assert constant_factor(60, WARMUP, TOTAL) == 1.0
    assert constant_factor(110, WARMUP, TOTAL) == 1.0


@pytest.mark.parametrize("factor", [linear_factor, cosine_factor])
def test_decay_is_monotone_after_warmup(factor) -> None:
    values = [factor(s, WARMUP, TOTAL) for s in range(WARMUP, TOTAL + 1)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[0] == pytest.approx(1.0)


@pytest.mark.parametrize("factor", [linear_factor, cosine_factor, constant_factor])
def test_no_warmup_starts_at_peak(factor) -> None:
    assert factor(0, 0, 100) == pytest.approx(1.0)


def test_schedules_registry_names() -> None:
    assert {"constant", "cosine", "linear"} <= set(SCHEDULES.names())
    assert SCHEDULES.get("cosine") is cosine_factor


# ---------------------------------------------------------------------------------------------
# Parameter groups


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.linear = torch.nn.Linear(4, 4)
        self.norm = torch.nn.LayerNorm(4)
        self.head = torch.nn.Linear(4, 2)


def test_parameter_groups_split_matrices_from_vectors() -> None:
    model = _Block()
    groups = parameter_groups(model, weight_decay=0.05)
    assert len(groups) == 2
    decay, no_decay = groups
    assert decay["weight_decay"] == 0.05
    assert no_decay["weight_decay"] == 0.0
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(decay["params"]) == ids([model.embed.weight, model.linear.weight, model.head.weight])
    assert ids(no_decay["params"]) == ids(
        [model.linear.bias, model.norm.weight, model.norm.bias, model.head.bias]
    )


def test_parameter_groups_skip_frozen() -> None:
    model = _Block()
    model.embed.weight.requires_grad_(False)
    model.norm.bias.requires_grad_(False)
    groups = parameter_groups(model, weight_decay=0.1)
    everything = [p for g in groups for p in g["params"]]
    assert not any(p is model.embed.weight for p in everything)
    assert not any(p is model.norm.bias for p in everything)
    assert len(everything) == sum(1 for p in model.parameters() if p.requires_grad)


def test_parameter_groups_without_vectors_has_one_group() -> None:
    model = torch.nn.Linear(3, 3, bias=False)
    groups = parameter_groups(model, weight_decay=0.1)
    assert len(groups) == 1
    assert groups[0]["params"] == [model.weight]


def test_build_optimizer_applies_groups_and_lr() -> None:
    model = _Block()
    opt = build_optimizer(model, "adamw", lr=0.01, weight_decay=0.2)
    assert isinstance(opt, torch.optim.AdamW)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.2, 0.0]
    assert all(g["lr"] == 0.01 for g in opt.param_groups)


def test_build_optimizer_unknown_name() -> None:
    with pytest.raises(ConfigError, match="did you mean"):
        build_optimizer(torch.nn.Linear(2, 2), "adamm", lr=0.1, weight_decay=0.0)


def test_weight_decay_does_not_touch_biases() -> None:
    # With zero gradients, AdamW only applies decay: matrices shrink, biases stay.
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 3)
    weight, bias = model.weight.detach().clone(), model.bias.detach().clone()
    opt = build_optimizer(model, "adamw", lr=0.1, weight_decay=0.5)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(model.weight, weight * (1 - 0.1 * 0.5))
    assert torch.equal(model.bias, bias)


# ---------------------------------------------------------------------------------------------
# Every optimizer trains


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_lowers_a_quadratic_loss(name: str) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x = torch.randn(16, 4)
    target = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.3

    def loss_fn() -> torch.Tensor:
        return ((model(x) - target) ** 2).mean()

    opt = build_optimizer(model, name, lr=0.01 if name != "adadelta" else 1.0, weight_decay=0.0)
    with torch.no_grad():
        before = float(loss_fn())
    for _ in range(5):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss_fn())
    assert after < before


def test_optimizer_registry_has_the_documented_names() -> None:
    assert {"adamw", "adam", "sgd", "momentum"} <= set(OPTIMIZERS.names())
    assert OPTIMIZERS.names() == sorted(OPTIMIZERS.names())
    for _, help_text in OPTIMIZERS.describe():
        assert help_text


# ---------------------------------------------------------------------------------------------
# Scheduler


def _sgd(lr: float = 1.0) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch.nn.Linear(2, 2)
    return model, torch.optim.SGD(model.parameters(), lr=lr)


@pytest.mark.parametrize(("name", "factor"), [("linear", linear_factor), ("cosine", cosine_factor)])
def test_scheduler_follows_the_factor(name: str, factor) -> None:
    _, opt = _sgd(lr=0.5)
    sched = build_scheduler(opt, name, warmup=3, total=12)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0.5 * factor(k, 3, 12) for k in range(12)]
    assert lrs == pytest.approx(expected)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_scheduler_unknown_name() -> None:
    _, opt = _sgd()
    with pytest.raises(ConfigError, match="schedule"):
        build_scheduler(opt, "cosin", warmup=0, total=10)


def test_scheduler_state_dict_round_trips() -> None:
    torch.manual_seed(0)
    model, opt = _sgd(lr=0.3)
    sched = build_scheduler(opt, "cosine", warmup=2, total=10)
    for _ in range(4):
        opt.step()
        sched.step()
    opt_state, sched_state = opt.state_dict(), sched.state_dict()

    # A fresh optimizer/scheduler, loaded from the state, continues identically.
    model2 = torch.nn.Linear(2, 2)
    model2.load_state_dict(model.state_dict())
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.3)
    sched2 = build_scheduler(opt2, "cosine", warmup=2, total=10)
    assert opt2.param_groups[0]["lr"] != pytest.approx(opt.param_groups[0]["lr"])
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    assert sched2.last_epoch == 4

    seq1, seq2 = [], []
    for _ in range(6):
        seq1.append(opt.param_groups[0]["lr"])
        seq2.append(opt2.param_groups[0]["lr"])
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
    assert seq1 == seq2
    assert seq1 == pytest.approx([0.3 * cosine_factor(k, 2, 10) for k in range(4, 10)])


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_is_fused_by_default_and_matches_the_foreach_path(name: str) -> None:
    torch.manual_seed(0)
    fused_model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    foreach_model = copy.deepcopy(fused_model)
    fused = build_optimizer(fused_model, name, lr=0.01, weight_decay=0.1)
    foreach = build_optimizer(foreach_model, name, lr=0.01, weight_decay=0.1, foreach=True)
    assert fused.defaults["fused"] and not foreach.defaults["fused"]
    x = torch.randn(16, 4)
    for model, opt in ((fused_model, fused), (foreach_model, foreach)):
        for _ in range(5):
            model(x).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
    for a, b in zip(fused_model.parameters(), foreach_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
