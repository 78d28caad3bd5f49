"""The one training loop.

Every recipe (fine-tuning, pre-training, distillation, ...) trains through `fit`. What varies
lives elsewhere: the task turns a batch into a loss; techniques change `State` at named events;
callbacks observe (progress, logging, checkpoints, early stopping). The loop never branches on
task or technique type. In pseudocode, with the events fired:

    fit_start  (+ eval of the starting weights, when asked)
    while step < total_steps and not should_stop:
        epoch_start                                  (skipped when resuming mid-epoch)
        for batch in epoch_batches(epoch)[batch_in_epoch:]:     # resume = index arithmetic
            batch_start
            loss = task(batch)["loss"] / window      after_forward
            backward(loss)                           after_backward
            if the accumulation window is complete:
                before_step  (clip)  optimizer.step(); scheduler.step()   after_step
                if eval due:       eval_start  evaluate()  eval_end
                if checkpoint due: checkpoint
        epoch_end  (+ eval / checkpoint when they run per epoch)
    fit_end
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from pretune.train.events import Event
from pretune.train.state import State

__all__ = ["Handler", "LoopPlan", "TrainData", "fit", "steps_per_epoch", "total_steps"]


class Handler(Protocol):
    """A technique or callback: any object with methods named after events, e.g.
    `def after_step(self, state: State) -> None`. Missing methods are simply not called."""


class TrainData(Protocol):
    """The training split, seen by the loop as batches of row indices."""

    def epoch_batches(self, epoch: int) -> Sequence[Sequence[int]]:
        """The batches of `epoch`, a pure function of (seed, epoch)."""
        ...

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """The padded tensors for these rows (on CPU)."""
        ...


@dataclass(frozen=True)
class LoopPlan:
    """How long to train and when to step, evaluate and checkpoint."""

    total_steps: int
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    eval_every: int = 0  # 0: at each epoch end
    checkpoint_every: int = 0  # 0: at each epoch end


def steps_per_epoch(num_batches: int, grad_accum: int) -> int:
    """Optimizer steps in one epoch (a partial accumulation window at the end still steps)."""
    return math.ceil(num_batches / grad_accum)


def total_steps(epochs: float, per_epoch: int, max_steps: int | None) -> int:
    """`max_steps` if given, else `epochs` worth of steps (fractional epochs round up)."""
    return max_steps if max_steps is not None else max(1, math.ceil(epochs * per_epoch))


def _fire(handlers: Sequence[Handler], event: Event, state: State) -> None:
    for handler in handlers:
        method = getattr(handler, event.value, None)
        if method is not None:
            method(state)


def _window_size(index: int, num_batches: int, grad_accum: int) -> int:
    # Micro-batches in the accumulation window holding batch `index` (the last may be short),
    # so the summed gradient is a mean over the window whatever its size.
    start = (index // grad_accum) * grad_accum
    return min(grad_accum, num_batches - start)


def _run_eval(
    state: State, handlers: Sequence[Handler], evaluate: Callable[[], dict[str, Any]] | None
) -> None:
    if evaluate is None:
        return
    _fire(handlers, Event.EVAL_START, state)
    state.eval_metrics = evaluate()
    state.eval_metrics["step"] = state.step
    _fire(handlers, Event.EVAL_END, state)
    state.model.train()


def _train_one_step_window(
    state: State,
    task: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    batches: Sequence[Sequence[int]],
    data: TrainData,
    plan: LoopPlan,
    accelerator: Any,
    handlers: Sequence[Handler],
) -> None:
    """Forward/backward the micro-batches of one accumulation window, then one optimizer step."""
    window = _window_size(state.batch_in_epoch, len(batches), plan.grad_accum)
    window_loss = 0.0
    for position in range(window):
        index = state.batch_in_epoch
        state.batch = {k: v.to(accelerator.device) for k, v in data.load(batches[index]).items()}
        _fire(handlers, Event.BATCH_START, state)
        is_last = position == window - 1
        # Skip the gradient all-reduce on all but the last micro-batch of the window (DDP).
        sync = nullcontext() if is_last else accelerator.no_sync(state.model)
        with sync:
            state.outputs = task(state.batch)
            state.loss = state.outputs["loss"] / window
            _fire(handlers, Event.AFTER_FORWARD, state)
            accelerator.backward(state.loss)
        _fire(handlers, Event.AFTER_BACKWARD, state)
        window_loss += float(state.loss.detach())
        rows = state.batch.get("input_ids", state.batch.get("pixel_values"))  # text or images
        state.examples_seen += int(rows.shape[0])
        if "attention_mask" in state.batch:
            state.tokens_seen += int(state.batch["attention_mask"].sum())
        state.batch_in_epoch = index + 1

    _fire(handlers, Event.BEFORE_STEP, state)
    if plan.max_grad_norm is not None:
        norm = accelerator.clip_grad_norm_(state.model.parameters(), plan.max_grad_norm)
        state.grad_norm = float(norm)
    state.optimizer.step()
    state.scheduler.step()
    state.optimizer.zero_grad(set_to_none=True)
    state.step += 1
    state.last_loss = window_loss
    _fire(handlers, Event.AFTER_STEP, state)


def fit(
    state: State,
    task: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]],
    data: TrainData,
    plan: LoopPlan,
    accelerator: Any,
    handlers: Sequence[Handler],
    evaluate: Callable[[], dict[str, Any]] | None,
    *,
    evaluate_first: bool = False,
) -> State:
    """Train until `plan.total_steps` optimizer steps are done or a handler sets `should_stop`.

    Args:
        state: model, optimizer, scheduler and the data cursor (non-zero when resuming).
        task: batch -> {"loss", "logits", ...}.
        data: the training split as index batches.
        plan: step budget, accumulation, clipping, eval and checkpoint intervals.
        accelerator: an `accelerate.Accelerator` (devices, mixed precision, DDP).
        handlers: techniques first, then callbacks; called in this order at every event.
        evaluate: runs validation and returns its metrics (called at eval points); None when
            there is no validation split.
        evaluate_first: also evaluate the weights before the first step (a baseline; skipped
            when resuming past step 0).

    Returns:
        The final state.
    """
    run = _Fit(task, data, plan, accelerator, handlers, evaluate)
    _fire(handlers, Event.FIT_START, state)
    if evaluate_first and state.step == 0:
        run.evaluate_now(state)
    state.model.train()
    while state.step < plan.total_steps and not state.should_stop:
        if not _run_epoch(state, run):
            break  # stopped mid-epoch (step budget or early stopping)
    if run.last_eval_step != state.step:
        run.evaluate_now(state)  # the final weights are always evaluated once
    _fire(handlers, Event.FIT_END, state)
    return state


@dataclass
class _Fit:
    """What one `fit` call trains with, and the step of its last evaluation."""

    task: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
    data: TrainData
    plan: LoopPlan
    accelerator: Any
    handlers: Sequence[Handler]
    evaluate: Callable[[], dict[str, Any]] | None
    last_eval_step: int = -1

    def evaluate_now(self, state: State) -> None:
        _run_eval(state, self.handlers, self.evaluate)
        self.last_eval_step = state.step


def _run_epoch(state: State, run: _Fit) -> bool:
    """The rest of the current epoch (all of it unless resuming mid-epoch); False when it
    stopped before the epoch's end."""
    plan, handlers = run.plan, run.handlers
    batches = run.data.epoch_batches(state.epoch)
    if not batches:
        raise ValueError(f"epoch {state.epoch} has no batches: the training split is empty")
    if state.batch_in_epoch == 0:
        _fire(handlers, Event.EPOCH_START, state)
    while state.batch_in_epoch < len(batches):
        _train_one_step_window(state, run.task, batches, run.data, plan, run.accelerator,
                               handlers)  # fmt: skip
        epoch_done = state.batch_in_epoch >= len(batches)
        if plan.eval_every and state.step % plan.eval_every == 0:
            run.evaluate_now(state)
        if state.step >= plan.total_steps or state.should_stop:
            break
        if plan.checkpoint_every and state.step % plan.checkpoint_every == 0 and not epoch_done:
            _fire(handlers, Event.CHECKPOINT, state)
    if state.batch_in_epoch < len(batches):
        return False
    _fire(handlers, Event.EPOCH_END, state)
    if plan.eval_every == 0 and run.last_eval_step != state.step:
        run.evaluate_now(state)
    state.epoch += 1
    state.batch_in_epoch = 0
    more = state.step < plan.total_steps and not state.should_stop
    at_interval = plan.checkpoint_every == 0 or state.step % plan.checkpoint_every == 0
    if more and at_interval:
        _fire(handlers, Event.CHECKPOINT, state)
    return True
