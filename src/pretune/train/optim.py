"""Optimizers and learning-rate schedules, found by name.

Schedules are pure functions `factor(step, warmup, total) -> multiplier of the peak LR`
(nanoGPT's `get_lr`), wrapped in a `LambdaLR` so their position is saved with a checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from pretune.registry import Registry

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "build_optimizer",
    "build_scheduler",
    "constant_factor",
    "cosine_factor",
    "linear_factor",
    "parameter_groups",
]

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry("optimizer")
SCHEDULES: Registry[float] = Registry("schedule")


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Two groups: matrices get weight decay; biases and norm weights (1-D) do not.

    Decaying LayerNorm gains and biases pulls them towards 0, which only hurts.
    """
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


@OPTIMIZERS.register("adamw", "Adam with decoupled weight decay (the default for transformers)")
def _adamw(groups: Iterable, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr, foreach=True)


@OPTIMIZERS.register("adam", "Adam; weight decay added to the gradient (L2)")
def _adam(groups: Iterable, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=lr, foreach=True)


@OPTIMIZERS.register("sgd", "plain stochastic gradient descent")
def _sgd(groups: Iterable, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr)


@OPTIMIZERS.register("momentum", "SGD with momentum 0.9 and Nesterov updates")
def _momentum(groups: Iterable, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)


@OPTIMIZERS.register("rmsprop", "RMSprop (per-parameter step sizes from a running square mean)")
def _rmsprop(groups: Iterable, lr: float) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=lr)


@OPTIMIZERS.register("adadelta", "Adadelta (step sizes from running update ratios)")
def _adadelta(groups: Iterable, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adadelta(groups, lr=lr)


@OPTIMIZERS.register("adagrad", "Adagrad (step sizes shrink with accumulated squared gradients)")
def _adagrad(groups: Iterable, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(groups, lr=lr)


def build_optimizer(
    model: torch.nn.Module, name: str, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """Create optimizer `name` over the model's trainable parameters."""
    return OPTIMIZERS.create(name, parameter_groups(model, weight_decay), lr)


def _warmup(step: int, warmup: int) -> float | None:
    # Linear warm-up from 1/warmup to 1; None once warm-up is over.
    return (step + 1) / warmup if step < warmup else None


@SCHEDULES.register("linear", "linear warm-up, then linear decay to 0")
def linear_factor(step: int, warmup: int, total: int) -> float:
    warm = _warmup(step, warmup)
    if warm is not None:
        return warm
    return max(0.0, (total - step) / max(1, total - warmup))


@SCHEDULES.register("cosine", "linear warm-up, then half-cosine decay to 0")
def cosine_factor(step: int, warmup: int, total: int) -> float:
    warm = _warmup(step, warmup)
    if warm is not None:
        return warm
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@SCHEDULES.register("constant", "linear warm-up, then a constant LR")
def constant_factor(step: int, warmup: int, total: int) -> float:
    warm = _warmup(step, warmup)
    return 1.0 if warm is None else warm


def build_scheduler(
    optimizer: torch.optim.Optimizer, name: str, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR driven by schedule `name`; step it once per optimizer step."""
    factor: Callable[[int, int, int], float] = SCHEDULES.get(name)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step, warmup, total))
