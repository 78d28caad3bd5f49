"""The RL log: one `{"split": "rl", ...}` record per optimizer step in metrics.jsonl.

`MetricsLog` records the loss every `log_every` steps; reward and KL are what an RL run is
judged by, so they are logged at every step (averaged over the step's micro-batches).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pretune.train.state import State

__all__ = ["RLLog", "append_record"]

_KEYS = ("reward", "reward_std", "kl", "kl_sample", "completion_tokens")


def append_record(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


class RLLog:
    """Averages the task's reward/KL outputs over a step and appends them with the loss."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.history: list[dict[str, Any]] = []
        self._sums: dict[str, float] = {}
        self._batches = 0

    def after_forward(self, state: State) -> None:
        outputs = state.outputs or {}
        for key in _KEYS:
            if key in outputs:
                self._sums[key] = self._sums.get(key, 0.0) + float(outputs[key])
        self._batches += 1

    def after_step(self, state: State) -> None:
        n = max(self._batches, 1)
        record = {
            "split": "rl",
            "step": state.step,
            **{key: value / n for key, value in self._sums.items()},
            "loss": state.last_loss,
            "lr": state.lr,
            "grad_norm": state.grad_norm,
        }
        self.history.append(record)
        append_record(self.path, record)
        self._sums, self._batches = {}, 0
