"""The small mutable state shared by the loop, techniques and callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["State"]


@dataclass
class State:
    """Everything the loop knows at one moment.

    Techniques may replace `batch` or `loss`; callbacks only read, except `should_stop`.
    The counters (`step`, `epoch`, `batch_in_epoch`) are the data cursor that a checkpoint
    stores, so a resume finds its place by index arithmetic instead of replaying batches.
    """

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    total_steps: int
    steps_per_epoch: int
    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed
    batch: dict[str, torch.Tensor] | None = None
    outputs: dict[str, torch.Tensor] | None = None
    loss: torch.Tensor | None = None
    last_loss: float = float("nan")  # mean loss of the last optimizer step
    grad_norm: float | None = None
    examples_seen: int = 0
    tokens_seen: int = 0
    should_stop: bool = False
    eval_metrics: dict[str, Any] = field(default_factory=dict)
    best_metric: float | None = None
    best_loss: float | None = None  # validation loss at best_step: breaks ties on the metric
    best_step: int | None = None
    evals_without_improvement: int = 0

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def cursor(self) -> dict[str, Any]:
        """The counters a checkpoint must restore (JSON-safe)."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "examples_seen": self.examples_seen,
            "tokens_seen": self.tokens_seen,
            "best_metric": self.best_metric,
            "best_loss": self.best_loss,
            "best_step": self.best_step,
            "evals_without_improvement": self.evals_without_improvement,
        }

    def restore_cursor(self, cursor: dict[str, Any]) -> None:
        for key, value in cursor.items():
            setattr(self, key, value)
