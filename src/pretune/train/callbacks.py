"""Callbacks observe the loop: progress, the metrics log, checkpoints, best model, early stop.

Each is a small object with methods named after events (see `pretune.train.events.Event`).
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from pretune.errors import ConfigError
from pretune.files import write_text_atomic

if TYPE_CHECKING:  # the checkpoint writers (torch) are imported where they run
    from pretune.train.state import State

__all__ = [
    "LOWER_IS_BETTER",
    "BestModelKeeper",
    "Checkpointer",
    "MetricsLog",
    "Progress",
    "format_duration",
    "truncate_metrics_log",
]


def format_duration(seconds: float) -> str:
    """`75.2` -> `1m15s`; `3725` -> `1h02m`."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class MetricsLog:
    """Appends one JSON object per logged step and per evaluation to `metrics.jsonl`."""

    def __init__(self, path: Path, log_every: int) -> None:
        self.path = path
        self.log_every = log_every
        self._last_time = time.perf_counter()
        self._last_examples = 0
        self._last_tokens = 0

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def fit_start(self, state: State) -> None:
        self._last_time = time.perf_counter()
        self._last_examples, self._last_tokens = state.examples_seen, state.tokens_seen

    def after_step(self, state: State) -> None:
        if state.step % self.log_every and state.step != state.total_steps:
            return
        now = time.perf_counter()
        elapsed = max(now - self._last_time, 1e-9)
        record = {
            "split": "train",
            "step": state.step,
            "epoch": round(state.epoch + state.batch_in_epoch / max(1, state.steps_per_epoch), 4),
            "loss": state.last_loss,
            "lr": state.lr,
            "grad_norm": state.grad_norm,
            "examples_per_s": (state.examples_seen - self._last_examples) / elapsed,
            "tokens_per_s": (state.tokens_seen - self._last_tokens) / elapsed,
        }
        if not math.isfinite(state.last_loss):
            record["warning"] = "loss is not finite"
        self._append(record)
        self._last_time, self._last_examples = now, state.examples_seen
        self._last_tokens = state.tokens_seen

    def eval_end(self, state: State) -> None:
        self._append({"split": "validation", **_scalars(state.eval_metrics)})


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) or v is None}


def truncate_metrics_log(path: Path, step: int) -> None:
    """Drop records logged after `step` (by a run that crashed after its last checkpoint), so a
    resumed run's log reads as if it had never been interrupted."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the crash
        if record.get("step", 0) <= step:
            kept.append(line)
    write_text_atomic(path, "".join(f"{line}\n" for line in kept))  # a kill keeps old or new


class Checkpointer:
    """Writes a resumable checkpoint at each CHECKPOINT event (atomically; see checkpoint.py).

    `PRETUNE_KILL_AFTER_CHECKPOINT=N` makes the process SIGKILL itself right after writing the
    checkpoint of step N: fault injection for the exact-resume test.
    """

    def __init__(
        self,
        run_dir: Path,
        keep: int,
        extra_state: Callable[[], dict] | None = None,
        techniques: Sequence[Any] = (),
        save: bool = True,
    ) -> None:
        self.run_dir = run_dir
        self.keep = keep
        self.extra_state = extra_state or dict
        self.techniques = list(techniques)
        # False on the other processes of an FSDP run: they only help gather the full state.
        self.save = save

    def checkpoint(self, state: State) -> None:
        # With FSDP, gathering the full weights and optimizer state is a collective: every
        # process runs these two calls, then only the main process writes.
        from pretune.train.checkpoint import capture_rng_state, save_checkpoint
        from pretune.train.sharded import full_model_state, full_optimizer_state

        model_state = full_model_state(state.model)
        optimizer_state = full_optimizer_state(state.model, state.optimizer)
        if not self.save:
            return
        training_state = {
            "optimizer": optimizer_state,
            "scheduler": state.scheduler.state_dict(),
            "rng": capture_rng_state(),
            "techniques": {t.name: t.state_dict() for t in self.techniques},
        }
        save_checkpoint(
            self.run_dir,
            state.step,
            model_state=model_state,
            training_state=training_state,
            trainer_state={**state.cursor(), **self.extra_state()},
            keep=self.keep,
        )
        if os.environ.get("PRETUNE_KILL_AFTER_CHECKPOINT") == str(state.step):
            os.kill(os.getpid(), signal.SIGKILL)


# Validation metrics where a smaller value is better; every other metric is better larger.
LOWER_IS_BETTER = frozenset({"loss", "perplexity", "kl"})


class BestModelKeeper:
    """Tracks the best validation metric, saves those weights, and stops after `patience`
    evaluations without improvement (when patience is set). `metric` in LOWER_IS_BETTER
    improves downwards (a loss), any other upwards (accuracy, F1, reward).

    A tie on the metric is broken by the validation loss (lower wins): accuracy often sits at
    1.0 on a small validation split while the loss keeps falling, and keeping the first step
    at 1.0 kept an under-trained model. On a full tie the later weights are kept (they trained
    longer), but that does not count as an improvement for early stopping.
    """

    def __init__(
        self, path: Path, metric: str, patience: int | None = None, save: bool = True
    ) -> None:
        self.path = path
        self.metric = metric
        self.patience = patience
        self.save = save  # False on the non-main processes of a multi-process run

    def verdict(self, value: float, loss: float | None, state: State) -> str:
        """This evaluation against the best so far: "better", "tie" (metric and loss equal) or
        "worse"."""
        if state.best_metric is None:
            return "better"
        lower = self.metric in LOWER_IS_BETTER
        if value != state.best_metric:
            return "better" if (value < state.best_metric) == lower else "worse"
        if loss is None or state.best_loss is None or loss == state.best_loss:
            return "tie"
        return "better" if loss < state.best_loss else "worse"

    def eval_end(self, state: State) -> None:
        value = state.eval_metrics.get(self.metric)
        if value is None:
            available = ", ".join(k for k, v in state.eval_metrics.items() if isinstance(v, float))
            raise ConfigError(
                f"eval.metric='{self.metric}' is not computed; available: {available}"
            )
        loss = state.eval_metrics.get("loss")
        loss = float(loss) if isinstance(loss, int | float) else None
        verdict = self.verdict(float(value), loss, state)
        if verdict == "better":
            state.evals_without_improvement = 0
        else:
            state.evals_without_improvement += 1
        if verdict != "worse":
            state.best_metric, state.best_loss, state.best_step = float(value), loss, state.step
            from pretune.train.checkpoint import save_model_state
            from pretune.train.sharded import full_model_state, is_sharded

            if self.save or is_sharded(state.model):  # FSDP: every process helps gather
                weights = full_model_state(state.model)
                if self.save:
                    save_model_state(self.path, weights)
        if self.patience is not None and state.evals_without_improvement >= self.patience:
            state.should_stop = True


class Progress:
    """A live progress line on a terminal (rich); plain lines every `log_every` steps otherwise,
    so log files are never garbled by carriage returns."""

    def __init__(
        self,
        log_every: int,
        stream: TextIO | None = None,
        live: bool | None = None,
        headline: str = "accuracy",
        monitored: str | None = None,
    ) -> None:
        # The line shows the task's headline metric (never a proxy such as NER's token
        # accuracy), the metric that picks the best weights when it is another, and the loss;
        # the full set of metrics goes to metrics.jsonl.
        self.shown = tuple(dict.fromkeys((headline, monitored or headline, "loss")))
        self.stream = stream or sys.stderr  # progress, like every message; stdout is for results
        self.live = self.stream.isatty() if live is None else live
        self.log_every = log_every
        self._progress: Any = None
        self._task: Any = None
        self._start = 0.0
        self._start_step = 0
        self._start_examples = 0

    def fit_start(self, state: State) -> None:
        self._start = time.perf_counter()
        self._start_step, self._start_examples = state.step, state.examples_seen
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "train", total=state.total_steps, completed=state.step, info=""
            )

    def _rates(self, state: State) -> tuple[float, float]:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        done = state.step - self._start_step
        eta = (state.total_steps - state.step) * elapsed / max(done, 1)
        return (state.examples_seen - self._start_examples) / elapsed, eta

    def after_step(self, state: State) -> None:
        per_s, eta = self._rates(state)
        info = (
            f"epoch {state.epoch + 1} loss {state.last_loss:.4f} lr {state.lr:.2e} {per_s:.1f} ex/s"
        )
        if self.live:
            self._progress.update(self._task, completed=state.step, info=info)
        elif state.step % self.log_every == 0 or state.step == state.total_steps:
            print(
                f"step {state.step}/{state.total_steps} {info} eta {format_duration(eta)}",
                file=self.stream,
                flush=True,
            )

    def eval_end(self, state: State) -> None:
        metrics = state.eval_metrics
        shown = [
            f"{k} {metrics[k]:.4f}" for k in self.shown if isinstance(metrics.get(k), int | float)
        ]
        best = " (best so far)" if state.best_step == state.step else ""
        line = f"eval step {state.step}: {'  '.join(shown)}{best}"
        if self.live:
            self._progress.console.print(line)
        else:
            print(line, file=self.stream, flush=True)

    def fit_end(self, state: State) -> None:
        if self._progress is not None:
            self._progress.stop()
