"""Mixup: train on convex mixes of two examples' inputs and of their labels.

Text has no pixels to blend, so the word embeddings (B, T, H) are mixed instead (Guo et al.
2019, "Augmenting data with mixup for sentence classification"): the model sees
`lam * x_i + (1 - lam) * x_perm(i)` and is scored `lam * loss(y_i) + (1 - lam) * loss(y_perm(i))`
with the configured loss. It smooths the decision boundary and calibrates confidence; it
helps most with few examples per class. Image batches (`pixel_values`) mix the pixels
directly, as in the original mixup (Zhang et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES
from pretune.techniques.wrapping import TaskWrapper, input_embeddings, task_loss_fn

if TYPE_CHECKING:
    import torch

__all__ = ["Mixup", "mix_embeddings", "mixup_loss", "sample_mixup"]


def sample_mixup(batch_size: int, alpha: float, device: Any = None) -> tuple[float, torch.Tensor]:
    """(lam ~ Beta(alpha, alpha), a random permutation of the batch), from torch's RNG."""
    import torch

    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    return lam, torch.randperm(batch_size).to(device)


def mix_embeddings(
    embeds: torch.Tensor, mask: torch.Tensor | None, lam: float, perm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mix (B, T, H) embeddings with their permutation; the mask is the union of both masks."""
    import torch

    mixed = lam * embeds + (1.0 - lam) * embeds[perm]
    return mixed, None if mask is None else torch.maximum(mask, mask[perm])


def mixup_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    logits: torch.Tensor,
    labels: torch.Tensor,
    lam: float,
    perm: torch.Tensor,
) -> torch.Tensor:
    """lam * loss(logits, y) + (1 - lam) * loss(logits, y[perm])."""
    return lam * loss_fn(logits, labels) + (1.0 - lam) * loss_fn(logits, labels[perm])


class _MixupTask(TaskWrapper):
    def __init__(self, inner: Any, alpha: float) -> None:
        super().__init__(inner)
        self.alpha = alpha

    def train_forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        labels = batch["labels"]
        lam, perm = sample_mixup(labels.shape[0], self.alpha, labels.device)
        if "pixel_values" in batch:  # images: mix the pixels themselves (Zhang et al. 2018)
            pixels = batch["pixel_values"]
            mixed_pixels = lam * pixels + (1.0 - lam) * pixels[perm]
            logits = self.inner({"pixel_values": mixed_pixels})["logits"]
            loss = mixup_loss(task_loss_fn(self.inner), logits.float(), labels, lam, perm)
            return {"logits": logits, "loss": loss}
        embeds = input_embeddings(self.model, batch)
        mixed, mask = mix_embeddings(embeds, batch.get("attention_mask"), lam, perm)
        inputs = {k: v for k, v in batch.items() if k not in ("input_ids", "labels")}
        inputs["inputs_embeds"] = mixed
        if mask is not None:
            inputs["attention_mask"] = mask
        logits = self.inner(inputs)["logits"]  # no labels: the inner task only forwards
        loss = mixup_loss(task_loss_fn(self.inner), logits.float(), labels, lam, perm)
        return {"logits": logits, "loss": loss}


@TECHNIQUES.register("mixup", "mix pairs of examples (word embeddings or pixels) and their labels")
class Mixup(Technique):
    """Args:
    alpha: Beta(alpha, alpha) concentration; small (0.2) keeps mixes near one example,
        1.0 mixes uniformly.
    """

    name = "mixup"
    # One label per example mixes; token labels, spans and LM targets do not.
    tasks = frozenset({"classify", "image-classify"})
    changes_loss = True
    mixes_examples = True

    def __init__(self, alpha: float = 0.4) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha

    def wrap_task(self, task: Any) -> Any:
        return _MixupTask(task, self.alpha)
