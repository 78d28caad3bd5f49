"""The one training loop, driven by a tiny linear classifier on fixed random features."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from pretune.data.batching import epoch_batches
from pretune.train.events import Event
from pretune.train.loop import LoopPlan, fit, steps_per_epoch, total_steps
from pretune.train.optim import build_optimizer, build_scheduler
from pretune.train.state import State

N = 20
_GEN = torch.Generator().manual_seed(1234)
FEATURES = torch.randn(N, 4, generator=_GEN)
# Labels a linear model can learn.
LABELS = (FEATURES @ torch.randn(4, 3, generator=_GEN)).argmax(dim=1)


class FakeData:
    """N rows; batches from `epoch_batches` on constant lengths, or a fixed list."""

    def __init__(
        self,
        batch_size: int = 4,
        seed: int = 0,
        fixed: list[list[int]] | None = None,
        mask_width: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.fixed = fixed
        self.mask_width = mask_width
        self.epochs_asked: list[int] = []

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        self.epochs_asked.append(epoch)
        if self.fixed is not None:
            return [list(b) for b in self.fixed]
        return epoch_batches(
            [1] * N, self.batch_size, seed=self.seed, epoch=epoch, group_by_length=False
        )

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        idx = torch.tensor(list(indices), dtype=torch.long)
        batch = {
            "input_ids": torch.zeros((len(idx), 1), dtype=torch.long),
            "x": FEATURES[idx],
            "labels": LABELS[idx],
        }
        if self.mask_width is not None:
            batch["attention_mask"] = torch.ones((len(idx), self.mask_width), dtype=torch.long)
        return batch


class StubAccelerator:
    device = torch.device("cpu")

    def __init__(self) -> None:
        self.backward_calls = 0
        self.no_sync_calls = 0
        self.clip_calls: list[float] = []

    def backward(self, loss: torch.Tensor) -> None:
        self.backward_calls += 1
        loss.backward()

    def no_sync(self, model: torch.nn.Module) -> contextlib.AbstractContextManager:
        self.no_sync_calls += 1
        return contextlib.nullcontext()

    def clip_grad_norm_(self, params: Any, max_norm: float) -> torch.Tensor:
        self.clip_calls.append(max_norm)
        return torch.nn.utils.clip_grad_norm_(params, max_norm)


class Recorder:
    """Records (event, step) for every event, plus the cursor at checkpoints."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.checkpoints: list[tuple[int, int, int]] = []
        self.training_flags: list[bool] = []

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def _recording_method(name: str):
    def method(self: Recorder, state: State) -> None:
        self.events.append((name, state.step))
        if name == Event.CHECKPOINT:
            self.checkpoints.append((state.step, state.epoch, state.batch_in_epoch))
        if name == Event.BATCH_START:
            self.training_flags.append(state.model.training)

    return method


for _event in Event:
    setattr(Recorder, _event.value, _recording_method(_event.value))


class StopAt:
    """Sets should_stop after optimizer step `step` (like early stopping or a budget)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, state: State) -> None:
        if state.step == self.step:
            state.should_stop = True


def make_task(model: torch.nn.Module):
    def task(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = model(batch["x"])
        return {"loss": F.cross_entropy(logits, batch["labels"]), "logits": logits}

    return task


def make_state(
    model: torch.nn.Module,
    total: int,
    per_epoch: int = 5,
    optimizer: str = "sgd",
    lr: float = 0.1,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    warmup: int = 0,
) -> State:
    opt = build_optimizer(model, optimizer, lr, weight_decay)
    sched = build_scheduler(opt, schedule, warmup, total)
    return State(model, opt, sched, total_steps=total, steps_per_epoch=per_epoch)


def full_loss(model: torch.nn.Module) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model(FEATURES), LABELS))


def linear_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Linear(4, 3)


def run(
    model: torch.nn.Module,
    plan: LoopPlan,
    data: FakeData | None = None,
    handlers: Sequence[Any] = (),
    evaluate: Any = None,
    accelerator: StubAccelerator | None = None,
    **state_kwargs: Any,
) -> State:
    data = data or FakeData()
    state = make_state(model, plan.total_steps, **state_kwargs)
    return fit(
        state,
        make_task(model),
        data,
        plan,
        accelerator or StubAccelerator(),
        list(handlers),
        evaluate,
    )


# ---------------------------------------------------------------------------------------------
# Step arithmetic


def test_steps_per_epoch() -> None:
    assert steps_per_epoch(7, 2) == 4
    assert steps_per_epoch(8, 2) == 4
    assert steps_per_epoch(5, 1) == 5
    assert steps_per_epoch(1, 4) == 1


def test_total_steps() -> None:
    assert total_steps(1.5, 4, None) == 6
    assert total_steps(3, 4, 5) == 5
    assert total_steps(2, 4, None) == 8
    assert total_steps(0.3, 4, None) == 2  # 1.2 rounds up
    assert total_steps(0.01, 4, None) == 1  # never zero
    assert total_steps(0.5, 4, 100) == 100  # max_steps overrides epochs


# ---------------------------------------------------------------------------------------------
# Training


def test_loss_falls() -> None:
    model = linear_model()
    before = full_loss(model)
    losses: list[float] = []

    class Track:
        def after_step(self, state: State) -> None:
            losses.append(state.last_loss)

    state = run(model, LoopPlan(total_steps=30), handlers=[Track()], lr=0.5)
    assert state.step == 30
    assert len(losses) == 30
    assert full_loss(model) < 0.7 * before
    assert sum(losses[-5:]) < sum(losses[:5])


def test_one_step_event_order() -> None:
    rec = Recorder()
    data = FakeData(fixed=[[0, 1, 2, 3]])
    run(
        linear_model(),
        LoopPlan(total_steps=1),
        data=data,
        handlers=[rec],
        evaluate=lambda: {"accuracy": 0.5},
    )
    assert rec.names() == [
        "fit_start",
        "epoch_start",
        "batch_start",
        "after_forward",
        "after_backward",
        "before_step",
        "after_step",
        "epoch_end",
        "eval_start",
        "eval_end",
        "fit_end",
    ]


def test_event_order_with_accumulation_eval_and_epochs() -> None:
    rec = Recorder()
    data = FakeData(fixed=[[0, 1], [2, 3], [4, 5], [6, 7]])
    run(
        linear_model(),
        LoopPlan(total_steps=4, grad_accum=2, eval_every=2),
        data=data,
        handlers=[rec],
        evaluate=lambda: {"accuracy": 0.5},
    )
    micro = ["batch_start", "after_forward", "after_backward"]
    epoch = ["epoch_start", *micro, *micro, "before_step", "after_step"]
    epoch += [*micro, *micro, "before_step", "after_step", "eval_start", "eval_end", "epoch_end"]
    assert rec.names() == ["fit_start", *epoch, "checkpoint", *epoch, "fit_end"]
    steps = {name: [s for n, s in rec.events if n == name] for name in rec.names()}
    assert steps["after_step"] == [1, 2, 3, 4]
    assert steps["eval_end"] == [2, 4]
    assert steps["checkpoint"] == [2]
    assert steps["epoch_end"] == [2, 4]


def test_handlers_called_in_order() -> None:
    calls: list[str] = []

    class H:
        def __init__(self, name: str) -> None:
            self.name = name

        def after_step(self, state: State) -> None:
            calls.append(self.name)

    run(linear_model(), LoopPlan(total_steps=2), handlers=[H("technique"), H("callback")])
    assert calls == ["technique", "callback", "technique", "callback"]


def test_model_back_in_train_mode_after_eval() -> None:
    model = linear_model()
    rec = Recorder()
    seen: list[bool] = []

    def evaluate() -> dict[str, float]:
        model.eval()
        seen.append(model.training)
        return {"accuracy": 1.0}

    state = run(model, LoopPlan(total_steps=6, eval_every=2), handlers=[rec], evaluate=evaluate)
    assert seen == [False, False, False]
    assert rec.training_flags and all(rec.training_flags)
    assert state.eval_metrics == {"accuracy": 1.0, "step": 6}


def test_counters_examples_and_tokens() -> None:
    data = FakeData(fixed=[[0, 1, 2], [3, 4], [5]], mask_width=7)
    acc = StubAccelerator()
    state = run(linear_model(), LoopPlan(total_steps=4, grad_accum=2), data=data, accelerator=acc)
    # 2 optimizer steps per epoch (windows of 2 and 1 batches), 2 epochs.
    assert state.step == 4
    assert (state.epoch, state.batch_in_epoch) == (2, 0)
    assert state.examples_seen == 12
    assert state.tokens_seen == 12 * 7
    assert acc.backward_calls == 6
    assert acc.no_sync_calls == 2  # only the first micro-batch of each full window


def test_no_sync_on_all_but_the_last_micro_batch() -> None:
    data = FakeData(fixed=[[0], [1], [2], [3], [4], [5], [6]])
    acc = StubAccelerator()
    run(linear_model(), LoopPlan(total_steps=3, grad_accum=3), data=data, accelerator=acc)
    # Windows: 3, 3, 1 micro-batches -> 2 + 2 + 0 skipped syncs.
    assert acc.no_sync_calls == 4
    assert acc.backward_calls == 7


def test_clipping() -> None:
    acc = StubAccelerator()
    norms: list[float | None] = []

    class Norms:
        def after_step(self, state: State) -> None:
            norms.append(state.grad_norm)

    run(linear_model(), LoopPlan(total_steps=3, max_grad_norm=0.25), handlers=[Norms()],
        accelerator=acc)  # fmt: skip
    assert acc.clip_calls == [0.25, 0.25, 0.25]
    assert all(n is not None and n > 0 for n in norms)

    acc = StubAccelerator()
    state = run(linear_model(), LoopPlan(total_steps=3, max_grad_norm=None), accelerator=acc)
    assert acc.clip_calls == []
    assert state.grad_norm is None


def test_clipping_limits_the_update() -> None:
    # With SGD lr=1 and max_grad_norm=1e-3, the whole update has norm <= 1e-3.
    model = linear_model()
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    run(model, LoopPlan(total_steps=1, max_grad_norm=1e-3), lr=1.0)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < float((after - before).norm()) <= 1e-3 + 1e-7


def test_last_loss_is_the_window_mean() -> None:
    model = linear_model()
    data = FakeData(fixed=[[0, 1], [2, 3, 4, 5]])
    with torch.no_grad():
        first = float(F.cross_entropy(model(FEATURES[[0, 1]]), LABELS[[0, 1]]))
        second = float(F.cross_entropy(model(FEATURES[[2, 3, 4, 5]]), LABELS[[2, 3, 4, 5]]))
    state = run(model, LoopPlan(total_steps=1, grad_accum=2), data=data)
    assert state.last_loss == pytest.approx((first + second) / 2, rel=1e-6)


def test_technique_can_replace_the_loss() -> None:
    model = linear_model()
    before = copy.deepcopy(model.state_dict())

    class ZeroLoss:
        def after_forward(self, state: State) -> None:
            state.loss = state.loss * 0.0

    run(model, LoopPlan(total_steps=3, max_grad_norm=None), handlers=[ZeroLoss()])
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])


def test_lr_follows_the_schedule() -> None:
    lrs: list[float] = []

    class Lr:
        def before_step(self, state: State) -> None:
            lrs.append(state.lr)

    run(linear_model(), LoopPlan(total_steps=6), handlers=[Lr()], lr=0.6, schedule="linear",
        warmup=2)  # fmt: skip
    assert lrs == pytest.approx([0.3, 0.6, 0.6, 0.45, 0.3, 0.15])


# ---------------------------------------------------------------------------------------------
# Gradient accumulation


def _weights_after(batches: list[list[int]], grad_accum: int, total: int) -> list[torch.Tensor]:
    model = linear_model(seed=7)
    run(
        model,
        LoopPlan(total_steps=total, grad_accum=grad_accum, max_grad_norm=None),
        data=FakeData(fixed=batches),
        lr=0.5,
    )
    return [p.detach().clone() for p in model.parameters()]


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x, y, atol=1e-6, rtol=0)


def test_accumulation_equals_one_big_batch() -> None:
    accumulated = _weights_after([[0, 1], [2, 3]], grad_accum=2, total=3)
    big = _weights_after([[0, 1, 2, 3]], grad_accum=1, total=3)
    _assert_same(accumulated, big)
    # The control: without accumulation the same micro-batches give other weights.
    separate = _weights_after([[0, 1], [2, 3]], grad_accum=1, total=6)
    assert not torch.allclose(separate[0], big[0], atol=1e-4)


def test_accumulation_short_last_window_is_a_mean_over_its_batches() -> None:
    # [[0,1],[2,3],[4,5]] with accum 2 = windows {0..3} and {4,5}: the short window is not halved.
    accumulated = _weights_after([[0, 1], [2, 3], [4, 5]], grad_accum=2, total=4)
    big = _weights_after([[0, 1, 2, 3], [4, 5]], grad_accum=1, total=4)
    _assert_same(accumulated, big)


def test_accumulation_matches_a_manual_sgd_step() -> None:
    model = linear_model(seed=3)
    manual = copy.deepcopy(model)
    run(
        model,
        LoopPlan(total_steps=1, grad_accum=3, max_grad_norm=None),
        data=FakeData(fixed=[[0, 1], [2, 3], [4, 5]]),
        lr=0.5,
    )
    loss = F.cross_entropy(manual(FEATURES[:6]), LABELS[:6])
    loss.backward()
    with torch.no_grad():
        for p in manual.parameters():
            p -= 0.5 * p.grad
    _assert_same(list(model.parameters()), list(manual.parameters()))


# ---------------------------------------------------------------------------------------------
# Step budget and stopping


def test_fractional_epochs() -> None:
    rec = Recorder()
    calls: list[int] = []
    data = FakeData()  # 5 batches of 4
    total = total_steps(1.5, steps_per_epoch(5, 1), None)
    assert total == 8

    def evaluate() -> dict[str, float]:
        calls.append(1)
        return {"accuracy": 0.0}

    state = run(linear_model(), LoopPlan(total_steps=total), data=data, handlers=[rec],
                evaluate=evaluate)  # fmt: skip
    assert state.step == 8
    assert (state.epoch, state.batch_in_epoch) == (1, 3)
    assert state.examples_seen == 32
    assert rec.names().count("epoch_start") == 2
    assert rec.names().count("epoch_end") == 1  # the partial epoch does not end
    assert [s for n, s in rec.events if n == "eval_end"] == [5, 8]
    assert len(calls) == 2
    assert data.epochs_asked == [0, 1]


def test_fractional_epochs_with_accumulation() -> None:
    per_epoch = steps_per_epoch(5, 2)
    total = total_steps(1.5, per_epoch, None)
    assert (per_epoch, total) == (3, 5)
    state = run(linear_model(), LoopPlan(total_steps=total, grad_accum=2))
    assert state.step == 5
    assert (state.epoch, state.batch_in_epoch) == (1, 4)
    assert state.examples_seen == 20 + 16


def test_max_steps_stops_mid_epoch() -> None:
    rec = Recorder()
    state = run(linear_model(), LoopPlan(total_steps=total_steps(3, 5, 4)), handlers=[rec])
    assert state.step == 4
    assert (state.epoch, state.batch_in_epoch) == (0, 4)
    assert rec.names().count("after_step") == 4
    assert "epoch_end" not in rec.names()
    assert "checkpoint" not in rec.names()
    assert rec.names()[-1] == "fit_end"


def test_should_stop_stops_at_that_step() -> None:
    rec = Recorder()
    evals: list[int] = []

    def evaluate() -> dict[str, float]:
        evals.append(1)
        return {"accuracy": 0.0}

    state = run(linear_model(), LoopPlan(total_steps=10, checkpoint_every=1),
                handlers=[StopAt(3), rec], evaluate=evaluate)  # fmt: skip
    assert state.step == 3
    assert rec.names().count("after_step") == 3
    assert rec.names().count("batch_start") == 3
    # Checkpoints at steps 1 and 2, but not at the stopping step.
    assert [s for n, s in rec.events if n == "checkpoint"] == [1, 2]
    assert len(evals) == 1
    assert state.eval_metrics["step"] == 3
    assert rec.names()[-3:] == ["eval_start", "eval_end", "fit_end"]


def test_should_stop_from_an_evaluation() -> None:
    class EarlyStop:
        def eval_end(self, state: State) -> None:
            if state.step == 4:
                state.should_stop = True

    rec = Recorder()
    state = run(linear_model(), LoopPlan(total_steps=10, eval_every=2),
                handlers=[EarlyStop(), rec], evaluate=lambda: {"accuracy": 0.0})  # fmt: skip
    assert state.step == 4
    assert [s for n, s in rec.events if n == "eval_end"] == [2, 4]


def test_should_stop_at_fit_start_trains_nothing() -> None:
    class StopNow:
        def fit_start(self, state: State) -> None:
            state.should_stop = True

    model = linear_model()
    before = copy.deepcopy(model.state_dict())
    rec = Recorder()
    state = run(model, LoopPlan(total_steps=5), handlers=[StopNow(), rec])
    assert state.step == 0
    assert rec.names() == ["fit_start", "fit_end"]
    assert torch.equal(model.weight, before["weight"])


# ---------------------------------------------------------------------------------------------
# Checkpoint events


def test_checkpoints_mid_epoch_and_never_after_the_final_step() -> None:
    rec = Recorder()
    run(linear_model(), LoopPlan(total_steps=10, checkpoint_every=3), handlers=[rec])
    # (step, epoch, batch_in_epoch): 5 steps per epoch.
    assert rec.checkpoints == [(3, 0, 3), (6, 1, 1), (9, 1, 4)]


def test_checkpoint_at_an_epoch_end_fires_after_the_epoch() -> None:
    rec = Recorder()
    data = FakeData(fixed=[[0, 1], [2, 3], [4, 5]])  # 3 steps per epoch
    run(linear_model(), LoopPlan(total_steps=9, checkpoint_every=3), data=data, handlers=[rec])
    # Not mid-epoch at step 3 (epoch 0 still open), but after epoch_end with the next epoch's
    # cursor, so a resume starts the new epoch cleanly; none after the final step 9.
    assert rec.checkpoints == [(3, 1, 0), (6, 2, 0)]
    names = rec.names()
    first = names.index("checkpoint")
    assert names[first - 1] == "epoch_end"
    assert names[first + 1] == "epoch_start"


def test_checkpoint_every_zero_means_each_epoch_end_but_the_last() -> None:
    rec = Recorder()
    run(linear_model(), LoopPlan(total_steps=15), handlers=[rec],
        evaluate=lambda: {"accuracy": 0.0})  # fmt: skip
    assert rec.checkpoints == [(5, 1, 0), (10, 2, 0)]
    # Each epoch-end checkpoint follows that epoch's evaluation.
    first = rec.events.index(("checkpoint", 5))
    assert rec.events[first - 3 : first] == [("epoch_end", 5), ("eval_start", 5), ("eval_end", 5)]


def test_checkpoints_follow_evaluations() -> None:
    rec = Recorder()
    run(linear_model(), LoopPlan(total_steps=10, eval_every=3, checkpoint_every=3),
        handlers=[rec], evaluate=lambda: {"accuracy": 0.0})  # fmt: skip
    assert [c[0] for c in rec.checkpoints] == [3, 6, 9]
    for i, (name, step) in enumerate(rec.events):
        if name == "checkpoint":
            assert rec.events[i - 1] == ("eval_end", step)


# ---------------------------------------------------------------------------------------------
# Resume


def dropout_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))


STATE_KW = {"optimizer": "adamw", "lr": 0.05, "weight_decay": 0.01, "schedule": "linear",
            "warmup": 2}  # fmt: skip


def _resumed_run(
    grad_accum: int, stop_at: int, restore_rng: bool = True
) -> tuple[torch.nn.Module, State, Recorder]:
    total = total_steps(2, steps_per_epoch(5, grad_accum), None)
    plan = LoopPlan(total_steps=total, grad_accum=grad_accum)
    data = FakeData(seed=5)

    model = dropout_model(0)
    state = make_state(model, total, **STATE_KW)
    fit(state, make_task(model), data, plan, StubAccelerator(), [StopAt(stop_at)], None)
    assert state.step == stop_at
    snapshot = copy.deepcopy(
        {
            "model": model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "cursor": state.cursor(),
            "rng": torch.get_rng_state(),
        }
    )
    torch.manual_seed(999)
    torch.rand(17)  # the fresh process's RNG is elsewhere

    fresh = dropout_model(1)  # other initial weights, overwritten below
    state2 = make_state(fresh, total, **STATE_KW)
    fresh.load_state_dict(snapshot["model"])
    state2.optimizer.load_state_dict(snapshot["optimizer"])
    state2.scheduler.load_state_dict(snapshot["scheduler"])
    state2.restore_cursor(snapshot["cursor"])
    if restore_rng:
        torch.set_rng_state(snapshot["rng"])
    rec = Recorder()
    fit(state2, make_task(fresh), FakeData(seed=5), plan, StubAccelerator(), [rec], None)
    return fresh, state2, rec


def _uninterrupted(grad_accum: int) -> tuple[torch.nn.Module, State]:
    total = total_steps(2, steps_per_epoch(5, grad_accum), None)
    model = dropout_model(0)
    state = make_state(model, total, **STATE_KW)
    plan = LoopPlan(total_steps=total, grad_accum=grad_accum)
    fit(state, make_task(model), FakeData(seed=5), plan, StubAccelerator(), [], None)
    return model, state


@pytest.mark.parametrize(
    ("grad_accum", "stop_at"), [(1, 3), (1, 5), (1, 7), (2, 2), (2, 3), (2, 4)]
)
def test_resume_is_exact(grad_accum: int, stop_at: int) -> None:
    reference, ref_state = _uninterrupted(grad_accum)
    resumed, state, rec = _resumed_run(grad_accum, stop_at)
    assert state.step == ref_state.step == ref_state.total_steps
    assert state.cursor() == ref_state.cursor()
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    # Mid-epoch resumes do not start the epoch again; epoch-boundary resumes do.
    at_boundary = stop_at % steps_per_epoch(5, grad_accum) == 0
    assert rec.names()[1] == ("epoch_start" if at_boundary else "batch_start")
    assert rec.names().count("after_step") == ref_state.total_steps - stop_at


def test_resume_without_rng_differs() -> None:
    # The control for the test above: dropout makes the RNG state matter.
    reference, _ = _uninterrupted(1)
    resumed, _, _ = _resumed_run(1, 3, restore_rng=False)
    assert not torch.equal(reference[0].weight, resumed[0].weight)
