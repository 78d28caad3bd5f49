"""SWA: average the weights visited late in training (equal weights) and export the average.

Stochastic weight averaging (Izmailov et al. 2018) takes the mean of the weights from a start
point on, when the model circles a wide minimum; the mean sits nearer its centre and
generalises better than any single iterate. Unlike EMA, every averaged step counts the same
and nothing is averaged before `start`. Transformers use LayerNorm, so there are no batch-norm
statistics to recompute afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pretune.techniques.averaging import WeightAveraging, trainable_params
from pretune.techniques.entries import TECHNIQUES

if TYPE_CHECKING:
    import torch

__all__ = ["SWA", "swa_update"]


def swa_update(average: list[torch.Tensor], params: list[torch.Tensor], count: int) -> None:
    """average <- average + (params - average) / (count + 1): the mean of count + 1 snapshots."""
    import torch

    with torch.no_grad():
        torch._foreach_lerp_(average, params, 1.0 / (count + 1))


@TECHNIQUES.register("swa", "equal-weight average of the weights from a point in training on")
class SWA(WeightAveraging):
    """Args:
    start: fraction of the training steps after which averaging begins (0.75: the last 25%).
    every: average a snapshot every this many optimizer steps.
    """

    name = "swa"

    def __init__(self, start: float = 0.75, every: int = 1) -> None:
        if not 0.0 <= start < 1.0:
            raise ValueError(f"start must be in [0, 1), got {start}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        super().__init__()
        self.start, self.every = start, every
        self.count = 0

    def after_step(self, state: Any) -> None:
        first = int(self.start * state.total_steps)
        if state.step <= first or (state.step - first) % self.every:
            return
        params = trainable_params(state.model)
        if self.average is None:
            self.average = [p.detach().clone() for p in params]
            self.count = 1
            return
        swa_update(self.average, params, self.count)
        self.count += 1

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average or [], "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average = list(state["average"]) or None
        self.count = int(state["count"])
