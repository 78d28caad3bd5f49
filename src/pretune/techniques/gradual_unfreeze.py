"""Gradual unfreezing (ULMFiT): train the head first, then unfreeze one layer group at a time,
top-down, so the new head's large early gradients do not wreck the pre-trained lower layers.

Which groups are trainable is a pure function of the step (or epoch), so a resumed run
unfreezes exactly where an uninterrupted one would; nothing else needs saving.
"""

from __future__ import annotations

from typing import Any

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES
from pretune.techniques.layerwise_lr import layer_depth, num_layers

__all__ = ["GradualUnfreeze", "layer_groups_top_down", "unfrozen_groups"]


def layer_groups_top_down(names: list[str]) -> list[list[str]]:
    """Parameter names grouped as [head + pooler, top block, ..., block 0, embeddings]."""
    layers = num_layers(names)
    groups: list[list[str]] = [[] for _ in range(layers + 2)]
    for name in names:
        groups[layers + 1 - layer_depth(name, layers)].append(name)
    return [group for group in groups if group]


def unfrozen_groups(step: int, epoch: int, every_steps: int, num_groups: int) -> int:
    """How many groups (from the top) are trainable at this point: one more every
    `every_steps` optimizer steps, or every epoch when `every_steps` is 0."""
    done = step // every_steps if every_steps else epoch
    return min(num_groups, 1 + done)


@TECHNIQUES.register("gradual_unfreeze", "train the head first, then unfreeze layers top-down")
class GradualUnfreeze(Technique):
    """Args:
    every_steps: unfreeze the next layer group after this many optimizer steps (0: one group
        per epoch).

    "Frozen" groups keep `requires_grad` (so other techniques, EMA or SWA, always see the same
    parameter set) but their gradients are dropped before each optimizer step: optimizers skip
    a parameter without a gradient, weight decay included, so it does not move.
    """

    name = "gradual_unfreeze"
    # Not `freezes_params`: it never sets `requires_grad`, and it schedules only the
    # parameters still trainable at `fit_start`, after every `prepare_model` (freeze, LoRA)
    # ran; so it composes with those in any order.

    def __init__(self, every_steps: int = 0) -> None:
        if every_steps < 0:
            raise ValueError(f"every_steps must be >= 0, got {every_steps}")
        self.every_steps = every_steps
        self.groups: list[list[str]] = []
        self.unfrozen = 0

    def fit_start(self, state: Any) -> None:
        # Only parameters trainable now are managed: LoRA's or `freeze`'s frozen ones stay so.
        model = getattr(state.model, "module", state.model)
        names = [name for name, param in model.named_parameters() if param.requires_grad]
        self.groups = layer_groups_top_down(names)

    def before_step(self, state: Any) -> None:
        # `state.step` optimizer steps are done; this one is step + 1 of the schedule.
        self.unfrozen = unfrozen_groups(state.step, state.epoch, self.every_steps, len(self.groups))
        frozen = {name for group in self.groups[self.unfrozen :] for name in group}
        if not frozen:
            return
        model = getattr(state.model, "module", state.model)
        for name, param in model.named_parameters():
            if name in frozen:
                param.grad = None

    def state_dict(self) -> dict[str, Any]:
        return {"unfrozen": self.unfrozen}  # informative; recomputed from the step on resume

    def __repr__(self) -> str:
        return f"GradualUnfreeze(every_steps={self.every_steps})"
