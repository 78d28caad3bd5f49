"""The masked-image-modelling task. (Image classification is `pretune.tasks.classify.
ClassifyTask` unchanged: its model is called with `pixel_values` and returns `.logits`.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["MIMTask", "MeanLoss"]


class MeanLoss:
    """Streaming mean of a per-batch loss, weighted by batch size."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, outputs: dict[str, torch.Tensor]) -> None:
        n = int(outputs["logits"].shape[0])
        self.total += float(outputs["loss"].detach()) * n
        self.count += n

    def compute(self, label_names: Any = None) -> dict[str, float]:
        return {"loss": self.total / max(1, self.count)}


@dataclass
class MIMTask:
    """ViTMAE pre-training: hide `mask_ratio` of the patches, reconstruct their pixels; the
    loss is the mean squared error on the hidden patches only (He et al. 2022).

    The batch may carry `noise` (B, num_patches) to fix which patches are hidden (validation
    uses fixed noise so that its loss is comparable across evaluations).
    """

    model: torch.nn.Module

    def __call__(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.model(pixel_values=batch["pixel_values"], noise=batch.get("noise"))
        return {"loss": out.loss, "logits": out.logits}

    def new_metrics(self) -> MeanLoss:
        return MeanLoss()
