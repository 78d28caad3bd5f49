"""Max-norm: after every optimizer step, rescale each weight row whose L2 norm exceeds a cap.

A hard limit on each unit's incoming weights (Srebro et al. 2005; used with dropout by
Srivastava et al. 2014): it keeps weights from growing under a high learning rate without
pulling small weights towards zero as weight decay does.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES

if TYPE_CHECKING:
    import torch

__all__ = ["MaxNorm", "max_norm_"]


def max_norm_(weights: Iterable[torch.Tensor], max_norm: float) -> None:
    """Rescale, in place, the rows (output units) of each 2-D weight to L2 norm <= max_norm."""
    import torch

    with torch.no_grad():
        for weight in weights:
            weight.copy_(torch.renorm(weight, p=2, dim=0, maxnorm=max_norm))


@TECHNIQUES.register("max_norm", "cap each weight row's L2 norm after every step")
class MaxNorm(Technique):
    """Args:
    max_norm: the cap on each row's L2 norm (3-4 is usual with dropout).
    include: name patterns of the weights to constrain (default: every Linear weight, not
        the embeddings), e.g. ["classifier.*"].
    """

    name = "max_norm"

    def __init__(self, max_norm: float = 3.0, include: list[str] | None = None) -> None:
        if max_norm <= 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm
        self.include = list(include or ["*"])
        self.weights: list[torch.Tensor] = []

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        self.weights = [
            p
            for name, p in model.named_parameters()
            if p.ndim == 2
            and "embeddings" not in name
            and any(fnmatch.fnmatch(name, pattern) for pattern in self.include)
        ]
        if not self.weights:
            raise ValueError(f"no 2-D weight matches include={self.include}")
        return model

    def after_step(self, state: Any) -> None:
        max_norm_(self.weights, self.max_norm)
