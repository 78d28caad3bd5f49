"""EMA: keep an exponential moving average of the weights and export it.

Averaged weights generalise better than the last iterate, especially with a high LR or noisy
labels; the average is what gets evaluated and what is saved at the end (see averaging.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pretune.techniques.averaging import WeightAveraging, trainable_params
from pretune.techniques.entries import TECHNIQUES

if TYPE_CHECKING:
    import torch

__all__ = ["EMA", "ema_update"]


def ema_update(average: list[torch.Tensor], params: list[torch.Tensor], decay: float) -> None:
    """average <- decay * average + (1 - decay) * params, in place."""
    import torch

    with torch.no_grad():
        torch._foreach_lerp_(average, params, 1.0 - decay)


@TECHNIQUES.register("ema", "exponential moving average of the weights, exported at the end")
class EMA(WeightAveraging):
    """Args:
    decay: weight of the running average per step (0.999: an average over ~1000 steps).
    warmup_steps: copy the weights (no averaging) for the first steps, when they move fast.
    """

    name = "ema"

    def __init__(self, decay: float = 0.999, warmup_steps: int = 0) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        super().__init__()
        self.decay = decay
        self.warmup_steps = warmup_steps

    def fit_start(self, state: Any) -> None:
        if self.average is None:  # not restored from a checkpoint
            self.average = [p.detach().clone() for p in trainable_params(state.model)]

    def after_step(self, state: Any) -> None:
        decay = 0.0 if state.step <= self.warmup_steps else self.decay
        ema_update(self.average, trainable_params(state.model), decay)

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average or []}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average = list(state["average"]) or None
