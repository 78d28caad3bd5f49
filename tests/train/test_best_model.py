"""The best-model keeper: which evaluation's weights it keeps (ties broken by the validation
loss, then by the later step) and when early stopping stops; and that a run restores them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from helpers import tiny_overrides
from pretune.config import load_config
from pretune.train.callbacks import BestModelKeeper
from pretune.train.state import State


def _state() -> State:
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return State(model, optimizer, scheduler, total_steps=100, steps_per_epoch=10)


def _keep(metric: str, evaluations: list[dict[str, float]], patience: int | None = None):
    """Feed the keeper one evaluation per step (1, 2, ...); the state it leaves."""
    state = _state()
    keeper = BestModelKeeper(Path("unused"), metric, patience, save=False)
    for step, metrics in enumerate(evaluations, start=1):
        state.step, state.eval_metrics = step, dict(metrics)
        keeper.eval_end(state)
        if state.should_stop:
            break
    return state


def test_a_tie_on_the_metric_is_broken_by_the_lower_loss() -> None:
    # The case that motivated it: accuracy 1.0 at every evaluation while the loss falls.
    losses = [0.859, 0.5, 0.2, 0.097, 0.3]
    state = _keep("accuracy", [{"accuracy": 1.0, "loss": x} for x in losses])
    assert (state.best_step, state.best_metric, state.best_loss) == (4, 1.0, 0.097)


def test_the_metric_decides_before_the_loss() -> None:
    evaluations = [{"accuracy": 0.8, "loss": 0.1}, {"accuracy": 0.9, "loss": 0.7},
                   {"accuracy": 0.85, "loss": 0.05}]  # fmt: skip
    assert _keep("accuracy", evaluations).best_step == 2


def test_a_full_tie_keeps_the_later_step() -> None:
    same = {"f1": 0.5, "loss": 0.4}
    state = _keep("f1", [same, same, {"f1": 0.4, "loss": 0.1}])
    assert state.best_step == 2
    # Without a validation loss, a tie on the metric is a full tie.
    assert _keep("reward", [{"reward": 1.0}, {"reward": 1.0}, {"reward": 0.5}]).best_step == 2


def test_lower_is_better_metrics_tie_break_the_same_way() -> None:
    state = _keep("perplexity", [{"perplexity": 3.0, "loss": 1.1}, {"perplexity": 3.0, "loss": 1.0},
                                 {"perplexity": 3.5, "loss": 0.1}])  # fmt: skip
    assert state.best_step == 2


def test_patience_counts_a_loss_tie_break_as_improvement_and_a_full_tie_as_none() -> None:
    falling = [{"accuracy": 1.0, "loss": x} for x in (0.9, 0.8, 0.7)]
    assert not _keep("accuracy", falling, patience=1).should_stop
    flat = [{"accuracy": 1.0, "loss": 0.5}] * 3
    state = _keep("accuracy", flat, patience=1)
    assert state.should_stop and state.step == 2 and state.best_step == 2


def test_best_loss_is_checkpointed_with_the_cursor() -> None:
    state = _keep("accuracy", [{"accuracy": 1.0, "loss": 0.3}])
    resumed = _state()
    resumed.restore_cursor(state.cursor())
    assert (resumed.best_loss, resumed.best_metric, resumed.best_step) == (0.3, 1.0, 1)


class WeightsAtEachEvaluation:
    """A loop handler recording the weights each evaluation saw."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def eval_end(self, state: Any) -> None:
        self.weights[state.step] = {
            k: v.detach().clone() for k, v in state.model.state_dict().items()
        }


def test_a_run_restores_the_tie_broken_weights(
    tiny_csv: Path, tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pretune.recipes import finetune

    # Validation accuracy 1.0 at every evaluation (steps 2, 4, 6, 8); the loss is lowest at 6.
    losses = iter([0.859, 0.5, 0.097, 0.3])
    real = finetune.split_evaluator

    def scripted(*args: Any, **kwargs: Any):
        evaluate = real(*args, **kwargs)
        return lambda task, device: {**evaluate(task, device), "accuracy": 1.0,
                                     "loss": next(losses)}  # fmt: skip

    monkeypatch.setattr(finetune, "split_evaluator", scripted)
    overrides = tiny_overrides(tiny_csv, tiny_bert, tmp_path, "name=tie", "train.max_steps=8",
                               "train.eval_every=2", "model.max_length=32")  # fmt: skip
    recorder = WeightsAtEachEvaluation()
    summary = finetune.run_finetune(load_config(None, overrides), log=lambda _: None,
                                    live_progress=False, extra_handlers=[recorder])  # fmt: skip
    assert summary["best_validation"]["step"] == 6
    saved = load_file(str(Path(summary["run_dir"]) / "model" / "model.safetensors"))
    weight = next(k for k in saved if k.endswith("classifier.weight"))
    assert torch.equal(saved[weight], recorder.weights[6][weight])
    assert not torch.equal(saved[weight], recorder.weights[8][weight])
