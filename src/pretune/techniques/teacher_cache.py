"""Teacher logits computed once before distillation, and the batches that carry them.

Apart from `distill.py` because `CachedTeacherBatches` subclasses the data layer's
`TrainBatches` when it is defined, which imports torch and the data libraries: checking a
config that names `distill` must not (`distill.py` imports this module when a run needs it,
and re-exports its names).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from pretune.data.batching import inference_batches
from pretune.data.encode import EncodedSplit, TrainBatches

__all__ = ["TEACHER_KEY", "CachedTeacherBatches", "teacher_logits_for"]

TEACHER_KEY = "teacher_logits"  # batch key of cached teacher logits (B, K)


def teacher_logits_for(
    teacher: torch.nn.Module, split: EncodedSplit, batch_size: int, device: torch.device
) -> torch.Tensor:
    """The teacher's logits (N, K) for every row of `split`, in row order (row i -> [i])."""
    teacher.eval()
    out: torch.Tensor | None = None
    for indices in inference_batches(split.lengths, batch_size):
        batch = split.load(indices)
        inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        with torch.inference_mode():
            logits = teacher(**inputs).logits.float().cpu()
        if out is None:
            out = torch.empty(len(split), logits.shape[-1])
        out[torch.tensor(indices)] = logits
    if out is None:
        raise ValueError("the split is empty: no teacher logits to cache")
    return out


@dataclass
class CachedTeacherBatches(TrainBatches):
    """`TrainBatches` whose batches also carry the cached teacher logits of their rows.

    `teacher_logits[i]` belongs to row i of `split`; `load` selects the same rows (this
    process's share of the batch) from both, so each example meets its own teacher logits
    whatever the batch order, padding or number of processes.
    """

    teacher_logits: torch.Tensor | None = None  # (N, K), row order of `split`

    def __post_init__(self) -> None:
        if self.teacher_logits is None or len(self.teacher_logits) != len(self.split):
            raise ValueError("teacher_logits must hold one row per training example")

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        batch = super().load(indices)
        share = list(indices)[self.rank :: self.world_size]
        assert self.teacher_logits is not None  # checked in __post_init__
        batch[TEACHER_KEY] = self.teacher_logits[torch.tensor(share)]
        return batch
