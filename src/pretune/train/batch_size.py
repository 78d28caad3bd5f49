"""Find the largest batch size that fits in memory: try, and halve on out-of-memory.

    size = find_batch_size(lambda b: train_step_on(b), start=128)

The step function runs one forward/backward at a given batch size; anything but an
out-of-memory error propagates unchanged (a bug must not be mistaken for a full GPU).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import torch

from pretune.errors import ConfigError

__all__ = ["find_batch_size", "is_out_of_memory", "training_probe"]

_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures (torch.OutOfMemoryError or its messages)."""
    if isinstance(error, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(error, RuntimeError) and any(
        text in str(error).lower() for text in _OOM_MESSAGES
    )


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def find_batch_size(
    step: Callable[[int], Any], start: int, minimum: int = 1, log: Callable[[str], None] = print
) -> int:
    """The first size in start, start/2, start/4, ... for which `step(size)` succeeds.

    Args:
        step: runs one training step (forward + backward) at the given batch size.
        start: the size to try first (the largest wanted).
        minimum: give up below this size.
        log: where "batch size N does not fit" messages go.

    Raises:
        ConfigError: even `minimum` does not fit.
    """
    if start < minimum or minimum < 1:
        raise ValueError(f"need 1 <= minimum <= start, got start={start} minimum={minimum}")
    size = start
    while size >= minimum:
        try:
            step(size)
            return size
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            log(f"batch size {size} does not fit in memory; trying {size // 2}")
        _free_memory()  # outside the except block, so the traceback's tensors are released
        size //= 2
    raise ConfigError(
        f"even train.batch_size={minimum} runs out of memory; lower model.max_length, enable "
        "model.gradient_checkpointing or use a smaller model"
    )


def training_probe(task: Any, split: Any, device: torch.device) -> Callable[[int], None]:
    """A `step(size)` for `find_batch_size`: forward and backward on the `size` longest rows of
    `split` (an EncodedSplit), so the size found also fits the worst batch of an epoch."""
    order = sorted(range(len(split)), key=lambda i: -split.lengths[i])

    def step(size: int) -> None:
        indices = (order * (size // len(order) + 1))[:size]  # repeat rows if the split is small
        batch = {k: v.to(device) for k, v in split.load(indices).items()}
        try:
            task(batch)["loss"].backward()
        finally:
            task.model.zero_grad(set_to_none=True)

    return step
