"""What EMA and SWA share: an average of the trainable weights that validation sees.

The average is swapped in at `eval_start` and stays in place through `eval_end`, so the
best-model keeper saves the weights that were actually scored. The training weights come back
before anything else touches the model (the next `batch_start`, a `checkpoint`, `fit_end`), so
checkpoints hold the training weights and a resumed run matches an uninterrupted one.
At the end, `export_model` copies the final average in, unless the recipe restored the best
(already averaged) weights: `replaces_weights` tells it so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pretune.techniques.base import Technique

if TYPE_CHECKING:
    import torch

__all__ = ["WeightAveraging", "swap_weights", "trainable_params"]


def swap_weights(params: list[torch.Tensor], other: list[torch.Tensor]) -> None:
    """Exchange the values of two lists of same-shaped tensors, in place."""
    import torch

    with torch.no_grad():
        for param, value in zip(params, other, strict=True):
            held = param.detach().clone()
            param.copy_(value)
            value.copy_(held)


def trainable_params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in getattr(model, "module", model).parameters() if p.requires_grad]


class WeightAveraging(Technique):
    """Base of EMA and SWA; subclasses update `self.average` in `after_step`."""

    replaces_weights = True

    def __init__(self) -> None:
        self.average: list[torch.Tensor] | None = None
        self._swapped = False

    def eval_start(self, state: Any) -> None:
        if self.average is not None and not self._swapped:
            swap_weights(trainable_params(state.model), self.average)
            self._swapped = True

    def _restore_training_weights(self, state: Any) -> None:
        if self._swapped:
            swap_weights(trainable_params(state.model), self.average)
            self._swapped = False

    batch_start = checkpoint = fit_end = _restore_training_weights

    def export_model(self, model: torch.nn.Module) -> torch.nn.Module:
        import torch

        if self.average is not None:
            with torch.no_grad():
                for param, avg in zip(trainable_params(model), self.average, strict=True):
                    param.copy_(avg)
        return model
