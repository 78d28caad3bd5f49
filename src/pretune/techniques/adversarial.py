"""Adversarial training in embedding space: FGM (one step) and PGD (several projected steps).

After the ordinary backward pass, the word embeddings of the batch are pushed along their
loss gradient (each token's embedding moves at most `epsilon`, in L2), a second forward and
backward on the perturbed batch adds its gradient, and the perturbation is removed. The model
learns to keep its prediction when every token shifts a little: a regulariser that often
helps text classifiers (Miyato et al. 2017, "FGM") and buys robustness to such attacks
(Madry et al. 2018, "PGD").

The perturbation is added by a forward hook on the word-embedding module, so it works with
any task wrapper (mixup, R-Drop) and with a frozen embedding matrix. The second pass runs the
task as wrapped by the techniques listed *before* this one in the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pretune.techniques.base import TEXT_TASKS, Technique
from pretune.techniques.entries import TECHNIQUES
from pretune.techniques.wrapping import EmbeddingHook

if TYPE_CHECKING:
    import torch

__all__ = ["FGM", "PGD", "project_tokens", "token_step"]


def token_step(grad: torch.Tensor, size: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """A step of L2 length `size` for each token along its gradient, (B, T, H) -> (B, T, H).

    Padding positions (mask 0) get no step.
    """
    step = size * grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if mask is not None:
        step = step * mask[..., None].to(step.dtype)
    return step


def project_tokens(delta: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Shrink each token's perturbation back into the L2 ball of radius `epsilon`."""
    norm = delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return delta * (epsilon / norm).clamp(max=1.0)


class _Adversarial(Technique):
    changes_loss = True
    perturbs_embeddings = True
    tasks = TEXT_TASKS  # perturbs word embeddings: pixels have image.adversarial instead

    def __init__(self, epsilon: float, steps: int, step_size: float | None) -> None:
        if epsilon <= 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.epsilon, self.steps = epsilon, steps
        # Madry et al.'s rule of thumb: steps of 2.5 * epsilon / steps can reach the boundary.
        self.step_size = step_size or (epsilon if steps == 1 else 2.5 * epsilon / steps)
        self.hook = EmbeddingHook()
        self.task: Any = None

    def wrap_task(self, task: Any) -> Any:
        self.task = task  # run again on the perturbed batch; the loss itself is unchanged
        return task

    def fit_start(self, state: Any) -> None:
        self.hook.attach(state.model)

    def fit_end(self, state: Any) -> None:
        self.hook.detach()

    def batch_start(self, state: Any) -> None:
        self.hook.capture = True

    def after_backward(self, state: Any) -> None:
        import torch

        self.hook.capture = False
        grad = self.hook.take_grad()
        if grad is None or self.task is None:
            return
        # The loop divided the loss by the accumulation window; scale the extra loss alike.
        full = state.outputs["loss"].detach()
        scale = float(state.loss.detach() / full) if float(full) != 0 else 1.0
        mask = state.batch.get("attention_mask")
        delta = project_tokens(token_step(grad, self.step_size, mask), self.epsilon)
        try:
            for _ in range(self.steps - 1):  # PGD: climb the loss further, stay in the ball
                delta.requires_grad_(True)
                self.hook.delta = delta
                (g,) = torch.autograd.grad(self.task(state.batch)["loss"], delta)
                step = token_step(g, self.step_size, mask)
                delta = project_tokens(delta.detach() + step, self.epsilon)
            self.hook.delta = delta.detach()
            (self.task(state.batch)["loss"] * scale).backward()
        finally:
            self.hook.delta = None


@TECHNIQUES.register("fgm", "adversarial training: one gradient step on the word embeddings")
class FGM(_Adversarial):
    """Args:
    epsilon: how far each token's embedding may move (L2); compare with the embeddings'
        typical norm (about 1.1 for MiniLM: 0.1 is a ~10% shift).
    """

    name = "fgm"

    def __init__(self, epsilon: float = 0.1) -> None:
        super().__init__(epsilon, steps=1, step_size=None)


@TECHNIQUES.register("pgd", "adversarial training: projected gradient steps on the embeddings")
class PGD(_Adversarial):
    """Args:
    epsilon: radius of the L2 ball each token's embedding stays in.
    steps: gradient steps to find the perturbation (each costs a forward and a backward).
    step_size: length of each step (null: 2.5 * epsilon / steps).
    """

    name = "pgd"

    def __init__(self, epsilon: float = 0.1, steps: int = 3, step_size: float | None = None):
        super().__init__(epsilon, steps=steps, step_size=step_size)
