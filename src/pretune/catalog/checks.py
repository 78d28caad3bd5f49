"""Config checks that need the registries (optimizers, schedules, losses, techniques).

They live here, above the layers that define the registries, and every recipe schema in the
catalog runs the ones for the sections it has, when the config is loaded: a bad name or
parameter is refused before any data is read.

The registries are imported inside the checks: listing recipes or printing `--help` imports
the catalog, and must not import the techniques (and torch behind them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["check_loss", "check_techniques", "check_training", "eval_metric_check"]


def check_training(cfg: Any) -> None:
    """Optimizer and schedule names and their parameters."""
    from pretune.train.optim import check_optimizer_params, check_schedule_params

    t = cfg.train
    check_schedule_params(t.schedule, t.schedule_params)
    check_optimizer_params(t.optimizer, t.optimizer_params)


def check_loss(cfg: Any) -> None:
    """The classification loss, its parameters, and class weights only where they apply."""
    from pretune.tasks.losses import check_loss_params, loss_accepts_weight

    t = cfg.train
    check_loss_params(t.loss, t.loss_params)
    if getattr(t, "class_weights", "none") != "none" and not loss_accepts_weight(t.loss):
        raise ValueError(
            f"train.loss={t.loss} does not support class weights; set "
            "train.class_weights=none or pick a loss that does (e.g. cross_entropy, focal)"
        )


def check_techniques(cfg: Any) -> None:
    """Each technique's parameters, that it applies to what this recipe trains, that the
    techniques' declarations do not conflict (two replacing the saved weights, ...), then
    the parameters' values (by building the techniques that are cheap to build)."""
    if not cfg.techniques:  # nothing to check: the technique modules (torch) stay unimported
        return
    from pretune.techniques.registry import (
        check_technique_combination,
        check_technique_params,
        check_technique_values,
    )

    checked = {name: check_technique_params(name, p) for name, p in cfg.techniques.items()}
    cfg.__dict__["techniques"] = checked  # normalised (true -> {}); no re-validation loop
    check_technique_combination(checked, cfg.task_kind)
    for name, params in checked.items():
        check_technique_values(name, params)


def eval_metric_check(
    choices: Sequence[str] | Callable[[Any], Sequence[str]],
) -> Callable[[Any], None]:
    """A check that `eval.metric` is one of the metrics the recipe's evaluation computes."""

    def check_eval_metric(cfg: Any) -> None:
        allowed = choices(cfg) if callable(choices) else choices
        if cfg.eval.metric not in allowed:
            raise ValueError(
                f"eval.metric='{cfg.eval.metric}' is not computed by this recipe; choose from "
                + ", ".join(allowed)
            )

    return check_eval_metric
