"""L1 penalty: add `strength * sum |w|` over the weight matrices to the loss.

Where weight decay (L2) shrinks all weights evenly, L1 drives many to exactly zero: sparse
weights, useful for a linear probe over many features or to find which inputs matter. Biases
and norm parameters are left out, as with weight decay.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES
from pretune.techniques.wrapping import TaskWrapper

if TYPE_CHECKING:
    import torch

__all__ = ["L1", "l1_penalty", "penalised_parameters"]


def l1_penalty(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """sum |w| over `params` (a scalar tensor)."""
    import torch

    return sum((p.abs().sum() for p in params), torch.tensor(0.0))


def penalised_parameters(model: torch.nn.Module) -> list[torch.Tensor]:
    """Trainable weight matrices (2-D or more): biases and norm scales are not penalised."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


class _L1Task(TaskWrapper):
    def __init__(self, inner: Any, strength: float) -> None:
        super().__init__(inner)
        self.strength = strength

    def train_forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = dict(self.inner(batch))
        params = penalised_parameters(self.model)
        out["loss"] = out["loss"] + self.strength * l1_penalty(params).to(out["loss"].device)
        return out


@TECHNIQUES.register("l1", "L1 penalty on the weights, added to the loss (sparse weights)")
class L1(Technique):
    """Args:
    strength: multiplier of sum |w| (try 1e-6 to 1e-4 for a whole model, more for a probe).
    """

    name = "l1"
    changes_loss = True

    def __init__(self, strength: float = 1e-5) -> None:
        if strength <= 0:
            raise ValueError(f"strength must be > 0, got {strength}")
        self.strength = strength

    def wrap_task(self, task: Any) -> Any:
        return _L1Task(task, self.strength)
