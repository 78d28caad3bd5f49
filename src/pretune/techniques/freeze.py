"""Freezing: train only some parameters (linear probe, frozen embeddings, top layers only).

A frozen parameter gets no gradient, so its backward work and optimizer update are skipped:
steps get cheaper as well as regularised.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES

if TYPE_CHECKING:
    import torch

__all__ = ["Freeze", "freeze_parameters"]


def freeze_parameters(
    model: torch.nn.Module, train: list[str], freeze: list[str]
) -> tuple[int, int]:
    """Set `requires_grad` by name patterns (shell-style, e.g. `*classifier*`).

    With `train` given, only matching parameters stay trainable; then `freeze` patterns are
    frozen. Returns (trainable, total) parameter counts.
    """
    for name, param in model.named_parameters():
        keep = not train or any(fnmatch.fnmatch(name, pattern) for pattern in train)
        if any(fnmatch.fnmatch(name, pattern) for pattern in freeze):
            keep = False
        param.requires_grad_(keep)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())


@TECHNIQUES.register("freeze", "train only parameters matching patterns (e.g. linear probe)")
class Freeze(Technique):
    """Args:
    train: name patterns that stay trainable (empty: all), e.g. ["*classifier*"] for a
        linear probe of a frozen backbone.
    freeze: name patterns to freeze, e.g. ["*embeddings*"].
    """

    name = "freeze"
    freezes_params = True

    def __init__(self, train: list[str] | None = None, freeze: list[str] | None = None) -> None:
        # One pattern given as text means a list of one, not of its characters.
        self.train = [train] if isinstance(train, str) else list(train or [])
        self.freeze = [freeze] if isinstance(freeze, str) else list(freeze or [])
        if not self.train and not self.freeze:
            raise ValueError("give `train` and/or `freeze` name patterns")

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        trainable, _ = freeze_parameters(model, self.train, self.freeze)
        if trainable == 0:
            raise ValueError(
                f"no parameter matches train={self.train} after freeze={self.freeze}; "
                "list names with model.named_parameters()"
            )
        return model
