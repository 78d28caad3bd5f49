"""R-Drop: two forward passes with different dropout masks, pulled together by a KL term.

Each batch runs twice; the loss is the mean task loss of the two plus `alpha` times the
symmetric KL divergence between their predicted distributions (Liang et al. 2021). The model
learns predictions that do not hinge on which units dropout removed: a cheap, strong
regulariser for fine-tuning, at twice the forward/backward cost. Dropout must be on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES
from pretune.techniques.wrapping import TaskWrapper

if TYPE_CHECKING:
    import torch

__all__ = ["RDrop", "symmetric_kl"]


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """(KL(p_a || p_b) + KL(p_b || p_a)) / 2, averaged over the batch; (B, K) each."""
    import torch.nn.functional as F

    log_a, log_b = F.log_softmax(logits_a, -1), F.log_softmax(logits_b, -1)
    kl_ab = F.kl_div(log_b, log_a, log_target=True, reduction="batchmean")  # KL(a || b)
    kl_ba = F.kl_div(log_a, log_b, log_target=True, reduction="batchmean")
    return 0.5 * (kl_ab + kl_ba)


class _RDropTask(TaskWrapper):
    def __init__(self, inner: Any, alpha: float) -> None:
        super().__init__(inner)
        self.alpha = alpha

    def train_forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        first, second = self.inner(batch), self.inner(batch)
        kl = symmetric_kl(first["logits"].float(), second["logits"].float())
        loss = 0.5 * (first["loss"] + second["loss"]) + self.alpha * kl
        return {"logits": first["logits"], "loss": loss}


@TECHNIQUES.register("rdrop", "two dropout forwards per batch, kept consistent by a KL term")
class RDrop(Technique):
    """Args:
    alpha: weight of the symmetric KL term (the paper uses 0.1-5 for text classification).
    """

    name = "rdrop"
    changes_loss = True

    def __init__(self, alpha: float = 1.0) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha}")
        self.alpha = alpha

    def wrap_task(self, task: Any) -> Any:
        return _RDropTask(task, self.alpha)
