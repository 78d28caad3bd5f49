"""Optimizers and learning-rate schedules, found by name.

Schedules are pure functions `factor(step, warmup, total) -> multiplier of the peak LR`
(nanoGPT's `get_lr`), wrapped in a `LambdaLR` so their position is saved with a checkpoint.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from pretune.errors import ConfigError
from pretune.registry import Registry

if TYPE_CHECKING:  # torch is imported where used: checking a config must not load it
    import torch

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "build_optimizer",
    "build_scheduler",
    "check_optimizer_params",
    "check_schedule_params",
    "constant_factor",
    "cosine_factor",
    "cosine_restarts_factor",
    "exponential_factor",
    "linear_factor",
    "one_cycle_factor",
    "parameter_groups",
    "step_factor",
    "warmup_steps_for",
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


def _adam_implementation(params: dict[str, Any]) -> dict[str, Any]:
    """`fused=True` unless the caller chose (`fused` or `foreach` in `params`).

    The fused kernel updates each tensor in one vectorised pass; on CPU it is about 7x faster
    than the foreach path (MiniLM: 19 ms against 144 ms per step, one thread), which matters
    most for short texts, where the optimizer is a large share of a step (`transformers.Trainer`
    defaults to it too).
    """
    if "fused" in params or "foreach" in params:
        return params
    return {"fused": True, **params}


@OPTIMIZERS.register("adamw", "Adam with decoupled weight decay (the default for transformers)")
def _adamw(groups: Iterable, lr: float, **params: Any) -> torch.optim.Optimizer:
    import torch

    return torch.optim.AdamW(groups, lr=lr, **_adam_implementation(params))


@OPTIMIZERS.register("adam", "Adam; weight decay added to the gradient (L2)")
def _adam(groups: Iterable, lr: float, **params: Any) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adam(groups, lr=lr, **_adam_implementation(params))


@OPTIMIZERS.register("sgd", "plain stochastic gradient descent")
def _sgd(groups: Iterable, lr: float, **params: Any) -> torch.optim.Optimizer:
    import torch

    return torch.optim.SGD(groups, lr=lr, **params)


@OPTIMIZERS.register("momentum", "SGD with momentum 0.9 and Nesterov updates")
def _momentum(groups: Iterable, lr: float, **params: Any) -> torch.optim.Optimizer:
    import torch

    return torch.optim.SGD(groups, lr=lr, **{"momentum": 0.9, "nesterov": True, **params})


@OPTIMIZERS.register("rmsprop", "RMSprop (per-parameter step sizes from a running square mean)")
def _rmsprop(groups: Iterable, lr: float, **params: Any) -> torch.optim.Optimizer:
    import torch

    return torch.optim.RMSprop(groups, lr=lr, **params)


@OPTIMIZERS.register("adadelta", "Adadelta (step sizes from running update ratios)")
def _adadelta(groups: Iterable, lr: float, **params: Any) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adadelta(groups, lr=lr, **params)


@OPTIMIZERS.register("adagrad", "Adagrad (step sizes shrink with accumulated squared gradients)")
def _adagrad(groups: Iterable, lr: float, **params: Any) -> torch.optim.Optimizer:
    import torch

    return torch.optim.Adagrad(groups, lr=lr, **params)


def build_optimizer(
    model: torch.nn.Module, name: str, lr: float, weight_decay: float, **params: Any
) -> torch.optim.Optimizer:
    """Create optimizer `name` over the model's trainable parameters.

    `params` go to the torch optimizer (e.g. `momentum=0.8`, `betas=(0.9, 0.98)`).
    """
    return OPTIMIZERS.create(name, parameter_groups(model, weight_decay), lr, **params)


def check_optimizer_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate `train.optimizer_params` by building optimizer `name` on a dummy parameter.

    Raises:
        ConfigError: an unknown optimizer, an unknown parameter or a bad value.
    """
    factory = OPTIMIZERS.get(name)
    if not params:  # a known optimizer with its defaults builds: no need to import torch
        return params
    import torch

    try:
        factory([torch.nn.Parameter(torch.zeros(1))], 1e-3, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"train.optimizer_params for optimizer '{name}': {exc}") from None
    return params


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


@SCHEDULES.register("step", "linear warm-up, then multiply the LR by gamma every step_size steps")
def step_factor(
    step: int, warmup: int, total: int, step_size: int | None = None, gamma: float = 0.1
) -> float:
    """Step decay. `step_size` defaults to a third of the post-warm-up steps (three drops)."""
    warm = _warmup(step, warmup)
    if warm is not None:
        return warm
    size = step_size or max(1, (total - warmup) // 3)
    return gamma ** ((step - warmup) // size)


@SCHEDULES.register("exponential", "linear warm-up, then multiply the LR by gamma every step")
def exponential_factor(step: int, warmup: int, total: int, gamma: float | None = None) -> float:
    """Exponential decay. `gamma` defaults to the rate that reaches 1% of the peak at `total`."""
    warm = _warmup(step, warmup)
    if warm is not None:
        return warm
    rate = gamma if gamma is not None else 0.01 ** (1.0 / max(1, total - warmup))
    return rate ** (step - warmup)


@SCHEDULES.register("cosine_restarts", "linear warm-up, then `cycles` cosine decays (SGDR)")
def cosine_restarts_factor(step: int, warmup: int, total: int, cycles: int = 2) -> float:
    """Cosine with warm restarts: the post-warm-up steps split into `cycles` equal cosines,
    each starting again at the peak LR."""
    warm = _warmup(step, warmup)
    if warm is not None:
        return warm
    progress = (step - warmup) / max(1, total - warmup)
    if progress >= 1.0:
        return 0.0
    return 0.5 * (1.0 + math.cos(math.pi * ((cycles * progress) % 1.0)))


@SCHEDULES.register("one_cycle", "one-cycle: ramp up from peak/div_factor, cosine down to ~0")
def one_cycle_factor(
    step: int,
    warmup: int,
    total: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> float:
    """Smith's one-cycle policy. The ramp lasts the warm-up (or `pct_start` of the steps when
    there is no warm-up) and climbs linearly from 1/div_factor; then a cosine anneals to
    1/(div_factor * final_div_factor)."""
    peak = warmup if warmup > 0 else max(1, int(pct_start * total))
    start, end = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)
    if step < peak:
        return start + (1.0 - start) * step / peak
    progress = min(1.0, (step - peak) / max(1, total - peak))
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def check_schedule_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validate `train.schedule_params` against schedule `name`'s keyword parameters.

    Raises:
        ConfigError: an unknown schedule or an unknown parameter.
    """
    factor = SCHEDULES.get(name)
    accepted = list(inspect.signature(factor).parameters)[3:]  # after step, warmup, total
    unknown = [key for key in params if key not in accepted]
    if unknown:
        raise ConfigError(
            f"train.schedule_params: schedule '{name}' has no parameter(s) {', '.join(unknown)}; "
            f"its parameters: {', '.join(accepted) or 'none'}"
        )
    return params


def build_scheduler(
    optimizer: torch.optim.Optimizer, name: str, warmup: int, total: int, **params: Any
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR driven by schedule `name` (with `params`); step it once per optimizer step."""
    factor: Callable[..., float] = partial(SCHEDULES.get(name), **params)
    import torch

    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step, warmup, total))


def warmup_steps_for(train: Any, total_steps: int) -> int:
    """Warm-up length in steps of a run of `total_steps`: `train.warmup_steps`, else
    `train.warmup_ratio` of the run (0.1 when neither is set)."""
    if train.warmup_steps is not None:
        return train.warmup_steps
    return int((0.1 if train.warmup_ratio is None else train.warmup_ratio) * total_steps)
