"""The task interface: a task turns a batch into a loss (and logits) and knows its metrics.

The loop calls `task(batch)` and never branches on the task type (docs/architecture.md).
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

__all__ = ["Task"]


class Task(Protocol):
    """What the loop needs from a task."""

    model: torch.nn.Module

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Forward pass; returns at least {"loss", "logits"}."""
        ...

    def new_metrics(self) -> Any:
        """A fresh streaming metric accumulator with `update(logits, labels)` and `compute()`."""
        ...
