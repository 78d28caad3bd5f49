"""Streaming means over evaluation batches, each batch weighted by its size.

A task whose outputs already hold per-batch means (a loss over tokens, a reward over samples)
and the batch's size gets its streaming metrics from `StreamingMeans` by naming those keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = ["StreamingMeans"]


class StreamingMeans:
    """The mean of each of `mean_keys` over all examples seen, and how many there were.

    Subclasses name the output holding a batch's size (`weight_key`), the per-batch means to
    average (`mean_keys`) and what the count is called in `compute()` (`count_key`).
    """

    weight_key: ClassVar[str]
    mean_keys: ClassVar[tuple[str, ...]]
    count_key: ClassVar[str]

    def __init__(self) -> None:
        self.sums = dict.fromkeys(self.mean_keys, 0.0)
        self.count = 0

    def update(self, outputs: Mapping[str, Any]) -> None:
        """Add a batch: `outputs[weight_key]` examples with `outputs[key]` the mean of each key."""
        n = int(outputs[self.weight_key])
        for key in self.mean_keys:
            self.sums[key] += float(outputs[key]) * n
        self.count += n

    def compute(self) -> dict[str, Any]:
        n = max(self.count, 1)
        return {**{key: total / n for key, total in self.sums.items()}, self.count_key: self.count}
