"""Adversarial examples on pixels: FGSM and PGD in the L-inf ball, and adversarial training.

Text attacks (`pretune.evaluate.robustness`, `pretune.techniques.adversarial`) move word
embeddings inside a per-token L2 ball through a hook, because text has no continuous input.
Images do: here the pixels themselves move, each by at most `epsilon` (in pixel units, pixels
being 0..1), and the result is clamped to the valid range, so every adversarial example is a
real image (Goodfellow et al. 2015, FGSM; Madry et al. 2018, PGD). The attack names and the
result keys follow `evaluate.robustness` so both read alike in summaries.

PGD starts at the clean image (no random start) and keeps, per image, the strongest of its
last iterate and the FGSM image, so PGD accuracy is never above FGSM accuracy; both attacks
are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from pretune.data.batching import inference_batches
from pretune.errors import DataError
from pretune.evaluate.robustness import ATTACKS, check_attack
from pretune.techniques.base import Technique
from pretune.techniques.wrapping import TaskWrapper

__all__ = ["PixelAdversarialTraining", "attack_pixels", "pixel_robustness"]


def _attack_score(loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-image strength of an attack: any misclassified image beats any loss value."""
    return (logits.argmax(-1) != labels).float() * 1e6 + loss


def _losses(
    logits_of: Any, x: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    logits = logits_of(x).float()
    return F.cross_entropy(logits, labels, reduction="none"), logits


def _signed_step(
    logits_of: Any,
    x: torch.Tensor,
    labels: torch.Tensor,
    clean: torch.Tensor,
    size: float,
    bounds: tuple[float, float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One signed-gradient step from x, kept within (epsilon, low, high) = `bounds` of the
    clean images, and the attack score of x itself."""
    epsilon, low, high = bounds
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss, logits = _losses(logits_of, x, labels)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    moved = x.detach() + size * grad.sign()
    moved = torch.min(torch.max(moved, clean - epsilon), clean + epsilon).clamp(low, high)
    return moved, _attack_score(loss, logits, labels).detach()


def _stronger(
    best: torch.Tensor, best_score: torch.Tensor, candidate: torch.Tensor, score: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the stronger of `best` and `candidate` (by score), and its score."""
    better = (score > best_score)[:, None, None, None]
    return torch.where(better, candidate, best), torch.maximum(score, best_score)


def attack_pixels(
    logits_of: Any,
    pixels: torch.Tensor,
    labels: torch.Tensor,
    method: str,
    epsilon: float,
    steps: int = 10,
    pixel_range: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """Adversarial images within `epsilon` (L-inf) of `pixels`, clamped to `pixel_range`.

    Args:
        logits_of: pixels -> logits (B, K); the attack raises each image's cross-entropy.
        pixels: (B, C, H, W) clean images.
        labels: (B,) their classes.
        method: "fgsm" (one step of epsilon * sign(grad)) or "pgd" (`steps` steps of
            2.5 * epsilon / steps from the clean image, each projected back into the ball and
            the valid range). PGD returns, per image, the strongest of its iterates and the
            FGSM image (misclassified first, then the highest loss), so it is never weaker
            than FGSM.
    """
    check_attack(method, epsilon, steps)
    clean = pixels.detach()
    bounds = (epsilon, *pixel_range)
    fgsm, _ = _signed_step(logits_of, clean, labels, clean, epsilon, bounds)
    if method == "fgsm":
        return fgsm
    with torch.no_grad():
        best, best_score = fgsm, _attack_score(*_losses(logits_of, fgsm, labels), labels)
    x = clean
    for i in range(steps):
        moved, x_score = _signed_step(logits_of, x, labels, clean, 2.5 * epsilon / steps, bounds)
        if i > 0:  # x is an iterate (not the clean image): a candidate
            best, best_score = _stronger(best, best_score, x, x_score)
        x = moved
    with torch.no_grad():
        last_score = _attack_score(*_losses(logits_of, x, labels), labels)
    best, _ = _stronger(best, best_score, x, last_score)
    return best.detach()


def _logits_of(model: Any) -> Any:
    return lambda x: model(pixel_values=x).logits


def pixel_robustness(
    model: Any, split: Any, epsilons: Sequence[float], pgd_steps: int, batch_size: int
) -> dict[str, Any]:
    """Clean, FGSM and PGD accuracy of `model` on a labelled ImageSplit at each epsilon.

    Returns:
        {"clean_accuracy", "examples", "pgd_steps", "table": [{"epsilon", "fgsm_accuracy",
        "pgd_accuracy"}, ...]}.
    """
    if split.labels is None or len(split) == 0:
        raise DataError("the attack needs a labelled, non-empty split")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # no dropout, BatchNorm in inference mode: attack and score see one function
    logits_of = _logits_of(model)
    clean = 0
    correct = {(m, e): 0 for m in ATTACKS for e in epsilons}
    try:
        for indices in inference_batches(split.lengths, batch_size):
            batch = {k: v.to(device) for k, v in split.load(indices).items()}
            x, y = batch["pixel_values"], batch["labels"]
            with torch.no_grad():
                clean += int((model(pixel_values=x).logits.argmax(-1) == y).sum())
            for method in ATTACKS:
                for eps in epsilons:
                    adv = attack_pixels(logits_of, x, y, method, eps, pgd_steps)
                    with torch.no_grad():
                        hit = model(pixel_values=adv).logits.argmax(-1) == y
                    correct[method, eps] += int(hit.sum())
    finally:
        model.train(was_training)
    n = len(split)
    table = [
        {
            "epsilon": eps,
            "fgsm_accuracy": correct["fgsm", eps] / n,
            "pgd_accuracy": correct["pgd", eps] / n,
        }
        for eps in epsilons
    ]
    return {"clean_accuracy": clean / n, "examples": n, "pgd_steps": pgd_steps, "table": table}


class _AdversarialTask(TaskWrapper):
    def __init__(self, inner: Any, method: str, epsilon: float, steps: int) -> None:
        super().__init__(inner)
        self.method, self.epsilon, self.steps = method, epsilon, steps

    def train_forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, labels = batch["pixel_values"], batch["labels"]

        def logits_of(pixels: torch.Tensor) -> torch.Tensor:
            return self.inner({"pixel_values": pixels})["logits"]

        # The attack raises the cross-entropy; the training loss is the task's own (focal...).
        adv = attack_pixels(logits_of, x, labels, self.method, self.epsilon, self.steps)
        out = self.inner(batch)
        attacked = self.inner({"pixel_values": adv, "labels": labels})["loss"]
        return {"logits": out["logits"], "loss": 0.5 * (out["loss"] + attacked)}


class PixelAdversarialTraining(Technique):
    """Train on the mean of the clean loss and the loss on FGSM/PGD images of the batch
    (Goodfellow et al. 2015's mix). Built by the image recipe from
    `image.adversarial_training`; not in the TECHNIQUES registry because it needs pixel
    inputs (the registry's techniques run on every task, text included)."""

    name = "pixel_adversarial"
    changes_loss = True

    def __init__(self, method: str = "fgsm", epsilon: float = 0.05, steps: int = 3) -> None:
        check_attack(method, epsilon, steps)
        self.method, self.epsilon, self.steps = method, epsilon, steps

    def wrap_task(self, task: Any) -> Any:
        return _AdversarialTask(task, self.method, self.epsilon, self.steps)
