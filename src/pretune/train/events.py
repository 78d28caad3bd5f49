"""The named events of the one training loop (see `pretune.train.loop.fit` for where each fires)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Event"]


class Event(StrEnum):
    """Points in the loop where techniques (which may change `State`) and callbacks (which only
    observe) are called, in this order within a step."""

    FIT_START = "fit_start"
    EPOCH_START = "epoch_start"
    BATCH_START = "batch_start"
    AFTER_FORWARD = "after_forward"
    AFTER_BACKWARD = "after_backward"
    BEFORE_STEP = "before_step"
    AFTER_STEP = "after_step"
    EVAL_START = "eval_start"
    EVAL_END = "eval_end"
    CHECKPOINT = "checkpoint"
    EPOCH_END = "epoch_end"
    FIT_END = "fit_end"
