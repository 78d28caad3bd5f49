"""The added LR schedules (known values), their parameters, and optimizer parameters."""

from __future__ import annotations

import math

import pytest
import torch

from pretune.catalog import load_recipe_config
from pretune.errors import ConfigError
from pretune.train.optim import (
    OPTIMIZERS,
    build_scheduler,
    cosine_restarts_factor,
    exponential_factor,
    one_cycle_factor,
    step_factor,
)

WARMUP, TOTAL = 10, 110


@pytest.mark.parametrize(
    "factor", [step_factor, exponential_factor, cosine_restarts_factor, one_cycle_factor]
)
def test_ramp_reaches_the_peak_at_the_end_of_warmup(factor) -> None:
    assert factor(WARMUP, WARMUP, TOTAL) == pytest.approx(1.0)
    assert factor(0, WARMUP, TOTAL) < 0.2


def test_step_decay_values() -> None:
    assert step_factor(0, WARMUP, TOTAL) == pytest.approx(0.1)  # warm-up
    assert step_factor(39, WARMUP, TOTAL, step_size=30, gamma=0.5) == pytest.approx(1.0)
    assert step_factor(40, WARMUP, TOTAL, step_size=30, gamma=0.5) == pytest.approx(0.5)
    assert step_factor(100, WARMUP, TOTAL, step_size=30, gamma=0.5) == pytest.approx(0.125)
    # default: three drops of 10x over the post-warm-up steps (size 33)
    assert step_factor(43, WARMUP, TOTAL) == pytest.approx(0.1)


def test_exponential_decay_values() -> None:
    assert exponential_factor(12, WARMUP, TOTAL, gamma=0.5) == pytest.approx(0.25)
    assert exponential_factor(TOTAL, WARMUP, TOTAL) == pytest.approx(0.01)  # default gamma
    assert exponential_factor(60, WARMUP, TOTAL) == pytest.approx(0.1)


def test_cosine_restarts_values() -> None:
    # two cycles of 50 steps after warm-up: bottom at the middle of each, restart at 60
    assert cosine_restarts_factor(35, WARMUP, TOTAL) == pytest.approx(0.5)
    assert cosine_restarts_factor(59, WARMUP, TOTAL) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * 49 / 50))
    )
    assert cosine_restarts_factor(60, WARMUP, TOTAL) == pytest.approx(1.0)
    assert cosine_restarts_factor(85, WARMUP, TOTAL) == pytest.approx(0.5)
    assert cosine_restarts_factor(TOTAL, WARMUP, TOTAL) == 0.0
    assert cosine_restarts_factor(70, 0, 90, cycles=3) == pytest.approx(
        0.5 * (1 + math.cos(math.pi / 3))
    )


def test_one_cycle_values() -> None:
    assert one_cycle_factor(0, WARMUP, TOTAL) == pytest.approx(1 / 25)
    assert one_cycle_factor(5, WARMUP, TOTAL) == pytest.approx(1 / 25 + (1 - 1 / 25) / 2)
    assert one_cycle_factor(60, WARMUP, TOTAL) == pytest.approx(0.5 * (1 + 1 / 25e4))
    assert one_cycle_factor(TOTAL, WARMUP, TOTAL) == pytest.approx(1 / 25e4)
    # no warm-up: the ramp takes pct_start of the run
    assert one_cycle_factor(30, 0, 100) == pytest.approx(1.0)
    assert one_cycle_factor(15, 0, 100, div_factor=10) == pytest.approx(0.1 + 0.9 / 2)


def test_schedule_params_reach_the_scheduler() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = build_scheduler(optimizer, "step", 0, 100, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_config_validates_schedule_and_optimizer_params() -> None:
    cfg = load_recipe_config(
        "finetune",
        None,
        ["train.schedule=step", "train.schedule_params.gamma=0.5", "train.optimizer=sgd",
         "train.optimizer_params.momentum=0.8"],
    )  # fmt: skip
    assert cfg.train.schedule_params == {"gamma": 0.5}
    with pytest.raises(ConfigError, match=r"schedule 'cosine' has no parameter.*gamma"):
        load_recipe_config(
            "finetune", None, ["train.schedule=cosine", "train.schedule_params.gamma=0.5"]
        )
    with pytest.raises(ConfigError, match="optimizer_params for optimizer 'adamw'"):
        load_recipe_config("finetune", None, ["train.optimizer_params.momentum=0.9"])
    with pytest.raises(ConfigError, match="unknown schedule 'cosin'"):
        load_recipe_config("finetune", None, ["train.schedule=cosin"])


def test_optimizer_params_override_the_defaults() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    sgd = OPTIMIZERS.create("momentum", [param], 0.1, momentum=0.5)
    assert sgd.param_groups[0]["momentum"] == 0.5 and sgd.param_groups[0]["nesterov"]
    adam = OPTIMIZERS.create("adamw", [param], 0.1, betas=(0.9, 0.98))
    assert adam.param_groups[0]["betas"] == (0.9, 0.98)
