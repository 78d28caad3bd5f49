"""Mixing the training batches of several tasks into one epoch, as a pure function of
(seed, epoch), so a resumed multi-task run jumps to its batch by index like any other run.

Every batch holds rows of one task (its own padding, labels and loss); what the strategy
decides is how many batches each task gets per epoch and in what order:

- proportional: p_i = n_i / sum(n): every task's rows are seen about once per epoch.
- temperature:  p_i ∝ n_i ** (1 / T): T = 1 is proportional, T -> inf is uniform; small tasks
  are up-sampled (their batches repeat within the epoch), big ones down-sampled.
- round_robin:  equal shares, tasks taking turns in a fixed order (t0, t1, t2, t0, ...).

An epoch always holds sum_i(batches of task i) batches, so its length does not depend on the
strategy; a task whose quota exceeds its own batches walks further passes of its own order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pretune.data.batching import epoch_batches

__all__ = [
    "SAMPLING",
    "MixedBatches",
    "TaskBatch",
    "mix_epoch",
    "sampling_probabilities",
    "task_quotas",
]

SAMPLING = ("proportional", "temperature", "round_robin")

# Task i's k-th pass over its own rows within epoch e uses epoch index e * _PASSES + k of the
# single-task shuffler, so passes and epochs never share an order (up to 10^5 passes/epoch).
_PASSES = 100_000


class TaskBatch(tuple):
    """Row indices (within task `task`'s split) of one batch, tagged with the epoch and the
    position it has in the mixed epoch (the random stream of dynamic masking derives from it)."""

    task: int
    epoch: int
    position: int

    def __new__(cls, indices: Sequence[int], task: int, epoch: int, position: int) -> TaskBatch:
        batch = super().__new__(cls, indices)
        batch.task, batch.epoch, batch.position = task, epoch, position
        return batch


def sampling_probabilities(sizes: Sequence[int], strategy: str, temperature: float = 1.0) -> list:
    """The share of batches each task gets: see the module docstring for the formulas."""
    if strategy not in SAMPLING:
        raise ValueError(f"sampling={strategy!r} unknown; choose from {', '.join(SAMPLING)}")
    if not sizes or min(sizes) <= 0:
        raise ValueError(f"every task needs at least one training row (sizes {list(sizes)})")
    if strategy == "round_robin":
        return [1 / len(sizes)] * len(sizes)
    power = 1.0 if strategy == "proportional" else 1.0 / temperature
    weights = [n**power for n in sizes]
    total = sum(weights)
    return [w / total for w in weights]


def task_quotas(probabilities: Sequence[float], total: int) -> list[int]:
    """Batches per task in an epoch of `total` batches: `total * p_i` rounded by largest
    remainder (the quotas sum to `total` exactly), at least one batch per task."""
    raw = [p * total for p in probabilities]
    quotas = [max(1, math.floor(r)) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (-(raw[i] - math.floor(raw[i])), i))
    for i in by_remainder[: max(0, total - sum(quotas))]:
        quotas[i] += 1
    return quotas


def _task_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, quota: int, group: bool
) -> list[list[int]]:
    # The first `quota` batches of this task's passes in this epoch.
    batches: list[list[int]] = []
    passes = 0
    while len(batches) < quota:
        batches += epoch_batches(
            lengths, batch_size, seed=seed, epoch=epoch * _PASSES + passes, group_by_length=group
        )
        passes += 1
    return batches[:quota]


def mix_epoch(
    lengths: Sequence[Sequence[int]],
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    strategy: str,
    temperature: float = 1.0,
    group_by_length: bool = True,
) -> list[TaskBatch]:
    """The batches of one multi-task epoch; the same (seed, epoch) always gives the same list.

    Args:
        lengths: per task, the token length of each of its training rows.
        batch_size: rows per batch (every task).
        seed, epoch: the only sources of randomness.
        strategy: proportional, temperature or round_robin.
        temperature: T of the temperature strategy.
        group_by_length: batch rows of similar length together within each task.
    """
    sizes = [len(task_lengths) for task_lengths in lengths]
    probabilities = sampling_probabilities(sizes, strategy, temperature)
    own = [math.ceil(n / batch_size) for n in sizes]
    quotas = task_quotas(probabilities, sum(own))
    per_task = [
        # Each task shuffles with its own seed so that two tasks over the same rows (two label
        # columns of one dataset) do not walk them in lockstep.
        _task_batches(task_lengths, batch_size, seed * 1_009 + i, epoch, quotas[i], group_by_length)
        for i, task_lengths in enumerate(lengths)
    ]
    if strategy == "round_robin":
        order = _round_robin(quotas)
    else:
        order = [i for i, q in enumerate(quotas) for _ in range(q)]
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = [order[j] for j in torch.randperm(len(order), generator=generator).tolist()]
    taken = [0] * len(quotas)
    mixed = []
    for position, task in enumerate(order):
        mixed.append(TaskBatch(per_task[task][taken[task]], task, epoch, position))
        taken[task] += 1
    return mixed


def _round_robin(quotas: Sequence[int]) -> list[int]:
    # Tasks take turns; a task whose quota is used up (rounding) drops out of the rotation.
    left = list(quotas)
    order: list[int] = []
    while any(left):
        for task in range(len(left)):
            if left[task]:
                order.append(task)
                left[task] -= 1
    return order


@dataclass
class MixedBatches:
    """The loop's view of a multi-task training set (a `TrainData`).

    `splits` holds one split per task (anything with `lengths` and `load(indices)`, e.g. an
    `EncodedSplit`); `prepare[i]`, when set, transforms task i's batches with a generator
    derived from (seed, epoch, position), e.g. dynamic MLM masking. Each loaded batch carries
    `task_id` (a 0-d tensor) so the multi-task task knows which head to use.
    """

    splits: Sequence[Any]
    batch_size: int
    seed: int
    strategy: str = "proportional"
    temperature: float = 1.0
    group_by_length: bool = True
    prepare: Sequence[Any] = field(default_factory=list)
    rank: int = 0
    world_size: int = 1

    def epoch_batches(self, epoch: int) -> list[TaskBatch]:
        return mix_epoch(
            [split.lengths for split in self.splits],
            self.batch_size,
            seed=self.seed,
            epoch=epoch,
            strategy=self.strategy,
            temperature=self.temperature,
            group_by_length=self.group_by_length,
        )

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        from pretune.data.packing import batch_generator

        task = getattr(indices, "task", 0)
        share = list(indices)[self.rank :: self.world_size]
        if not share:
            raise ValueError(
                f"a batch of {len(indices)} rows cannot feed {self.world_size} processes; "
                "raise train.batch_size to at least the number of processes"
            )
        batch = self.splits[task].load(share)
        prepare = self.prepare[task] if task < len(self.prepare) else None
        if prepare is not None:
            epoch, position = getattr(indices, "epoch", 0), getattr(indices, "position", 0)
            batch = prepare(batch, batch_generator(self.seed, epoch, position))
        batch["task_id"] = torch.tensor(task)
        return batch
