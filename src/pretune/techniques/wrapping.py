"""Helpers shared by techniques that change the loss (`wrap_task`) or perturb embeddings.

`TaskWrapper` is the base of a task wrapper: it calls the inner task (never the model
directly, so wrappers compose: R-Drop around mixup around label smoothing), forwards every
other attribute (`model`, `new_metrics`, `loss_fn`) to it, and changes nothing when the model
is evaluating or the batch has no labels.

`EmbeddingHook` is a forward hook on the word-embedding module. It can record the embedding
outputs so that their gradient is known after backward (even when the embedding matrix is
frozen), or add a perturbation `delta` (B, T, H) to them: adversarial training and attacks
perturb inputs this way, whatever task or wrapper runs the forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["EmbeddingHook", "TaskWrapper", "input_embeddings", "task_loss_fn"]


def _unwrap(model: Any) -> Any:
    return getattr(model, "module", model)  # DDP / accelerate wrappers


class TaskWrapper:
    """Base for `wrap_task` wrappers; subclasses implement `train_forward(batch)`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (e.g. while unpickling): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if "labels" not in batch or not self.inner.model.training:
            return self.inner(batch)
        return self.train_forward(batch)

    def train_forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


def task_loss_fn(task: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The task's `(logits, labels) -> loss` (the configured loss), or cross-entropy."""
    import torch.nn.functional as F

    return getattr(task, "loss_fn", None) or F.cross_entropy


def input_embeddings(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The word embeddings (B, T, H) of a batch: given `inputs_embeds`, or looked up."""
    if "inputs_embeds" in batch:
        return batch["inputs_embeds"]
    return _unwrap(model).get_input_embeddings()(batch["input_ids"])


class EmbeddingHook:
    """Forward hook on the word-embedding module: record outputs or add a perturbation.

    Attributes:
        capture: while True, each output is kept (with `retain_grad`) in `outputs`.
        delta: when set, added to every output (must match its shape (B, T, H)).
    """

    def __init__(self) -> None:
        self.capture = False
        self.outputs: list[torch.Tensor] = []
        self.delta: torch.Tensor | None = None
        self._handle: Any = None

    def attach(self, model: Any) -> None:
        self.detach()
        module = _unwrap(model).get_input_embeddings()
        self._handle = module.register_forward_hook(self)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.capture, self.delta = False, None
        self.outputs.clear()

    def __call__(self, module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        import torch

        if self.delta is not None and self.delta.shape == output.shape:
            return output + self.delta.to(output.dtype)
        if self.capture and torch.is_grad_enabled():
            if not output.requires_grad:  # a frozen embedding matrix: make the output a leaf
                output.requires_grad_(True)
            output.retain_grad()
            self.outputs.append(output)
        return None

    def take_grad(self) -> torch.Tensor | None:
        """The summed gradient of the recorded outputs (None if none), then forget them."""
        import torch

        grads = [o.grad for o in self.outputs if o.grad is not None]
        shapes = {g.shape for g in grads}
        self.outputs.clear()
        if not grads or len(shapes) != 1:
            return None
        return torch.stack(grads).sum(0).detach()
