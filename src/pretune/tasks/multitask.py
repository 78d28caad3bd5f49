"""Multi-task learning: one shared encoder, one head per task, one task for the loop.

`MultiTaskModel` holds one complete Hugging Face model per task (`*ForSequenceClassification`
for classify tasks, `*ForMaskedLM` for an auxiliary MLM task) whose encoders are the *same*
module object: a gradient from any head updates the shared encoder. The encoder is registered
(state_dict, parameters, optimizer) once, under the first head, so checkpoints hold it once;
the other heads reach it as a plain attribute. `attached(head)` re-registers it while a head is
saved, so every head saves as a normal, self-contained Hugging Face folder.

`MultiTask` is what the loop calls: each batch belongs to one task (`batch["task_id"]`, set by
`data/multitask.py`); it runs that task's own single-task code (ClassifyTask, MLMTask) and
scales the loss by the task's weight. The loop never learns that there are several tasks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["MultiTask", "MultiTaskModel", "attached", "share_encoder"]


def _prefix(model: torch.nn.Module) -> str:
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix or not isinstance(getattr(model, prefix, None), torch.nn.Module):
        raise TypeError(f"{type(model).__name__} has no base model to share (base_model_prefix)")
    return prefix


def share_encoder(heads: Mapping[str, Any]) -> MultiTaskModel:
    """Make every model in `heads` use the encoder of the first one; returns the joint model.

    The heads must come from the same checkpoint family (same hidden size). Output embeddings
    tied to the input embeddings (an MLM decoder) are re-tied to the shared ones.
    """
    names = list(heads)
    first = heads[names[0]]
    encoder = getattr(first, _prefix(first))
    for name in names[1:]:
        head = heads[name]
        prefix = _prefix(head)
        setattr(head, prefix, encoder)  # registered for now, so tie_weights() can find it
        if getattr(head.config, "tie_word_embeddings", False):
            output = head.get_output_embeddings()
            if output is not None:
                output.weight = encoder.get_input_embeddings().weight
        _detach(head, prefix)
    return MultiTaskModel(dict(heads), names[0])


def _detach(head: torch.nn.Module, prefix: str) -> None:
    # Keep the encoder reachable as `head.<prefix>` (HF forward code uses it) but out of the
    # head's registered submodules: parameters and state_dict list it once, under the first head.
    encoder = head._modules.pop(prefix)
    object.__setattr__(head, prefix, encoder)


@contextmanager
def attached(head: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Temporarily register the shared encoder inside `head` (to save it as a whole model)."""
    prefix = getattr(head, "base_model_prefix", "")
    hidden = prefix in vars(head) and prefix not in head._modules
    if hidden:
        encoder = vars(head).pop(prefix)
        head._modules[prefix] = encoder
    try:
        yield head
    finally:
        if hidden:
            _detach(head, prefix)


class MultiTaskModel(torch.nn.Module):
    """One Hugging Face model per task, sharing the encoder of `heads[owner]`."""

    def __init__(self, heads: dict[str, torch.nn.Module], owner: str) -> None:
        super().__init__()
        self.heads = torch.nn.ModuleDict(heads)
        self.owner = owner  # the head under which the shared encoder is registered

    @property
    def encoder(self) -> torch.nn.Module:
        head = self.heads[self.owner]
        return getattr(head, head.base_model_prefix)

    def forward(self, task: str, **inputs: torch.Tensor) -> Any:
        return self.heads[task](**inputs)


@dataclass
class MultiTask:
    """Args:
    model: the MultiTaskModel.
    names: task names, in task-id order.
    tasks: the single-task objects (ClassifyTask, MLMTask) bound to each head.
    weights: each task's loss weight (> 0).
    """

    model: torch.nn.Module
    names: Sequence[str]
    tasks: Sequence[Any]
    weights: Sequence[float]

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        task_id = int(batch["task_id"])
        inputs = {k: v for k, v in batch.items() if k != "task_id"}
        out = dict(self.tasks[task_id](inputs))
        if "loss" in out:
            out["task_loss"] = out["loss"].detach()  # unweighted, for the per-task log
            out["loss"] = out["loss"] * self.weights[task_id]
        out["task_id"] = batch["task_id"]
        return out

    def task(self, name: str) -> Any:
        """The single-task object of task `name` (e.g. for evaluation)."""
        return self.tasks[list(self.names).index(name)]

    def new_metrics(self, name: str | None = None) -> Any:
        """The metric accumulator of task `name` (default: the first task)."""
        return self.task(name or self.names[0]).new_metrics()
