"""Recipe: the LR range test (Smith 2015; fastai's `lr_find`).

Train the run's model for `steps` optimizer steps while the LR grows exponentially from
`min_lr` to `max_lr`; record the loss at each step, smooth it, and suggest the LR where the
smoothed loss falls fastest (before it diverges). The sweep goes through the one training loop
with the recipe's own model, techniques, optimizer and data, so it measures what a real run
would do; nothing is saved but `lr_find.json` and `lr_find.png` in `runs/<name>/`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from pretune.config import RunConfig, save_config
from pretune.data.encode import TrainBatches
from pretune.data.text_classification import encode_splits, prepare_data
from pretune.errors import ConfigError
from pretune.files import write_json_atomic
from pretune.models.load import load_tokenizer, resolve_model_path
from pretune.models.settings import build_classifier
from pretune.process_state import leaves_process_as_found
from pretune.tasks.classify import classify_task_factory
from pretune.train.batch_size import find_batch_size as fit_batch_size
from pretune.train.batch_size import training_probe
from pretune.train.callbacks import Progress
from pretune.train.loop import LoopPlan, fit
from pretune.train.run_folder import create_run_dir
from pretune.train.setup import apply_techniques, build_training, set_determinism

__all__ = ["lr_sweep", "plot_lr_find", "run_lr_find", "smooth_losses", "suggest_lr"]


def lr_sweep(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """`steps` learning rates growing geometrically from `min_lr` to `max_lr`."""
    if not 0 < min_lr < max_lr:
        raise ConfigError(f"lr-find needs 0 < min_lr < max_lr, got {min_lr} and {max_lr}")
    if steps < 5:
        raise ConfigError(f"lr-find needs steps >= 5 to see a trend, got {steps}")
    ratio = max_lr / min_lr
    return [min_lr * ratio ** (i / (steps - 1)) for i in range(steps)]


def smooth_losses(losses: list[float], beta: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (the early values are not pulled to 0)."""
    smoothed, average = [], 0.0
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**i))
    return smoothed


def suggest_lr(lrs: list[float], smoothed: list[float], skip_start: int = 2) -> float | None:
    """The LR at the steepest descent of the smoothed loss against log(LR), looking only up to
    the loss minimum (past it the run is diverging). None when the loss never falls."""
    if len(lrs) < skip_start + 3:
        return None
    end = min(range(len(smoothed)), key=lambda i: smoothed[i]) + 1
    best, best_slope = None, 0.0
    for i in range(skip_start, end - 1):
        slope = (smoothed[i + 1] - smoothed[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        if slope < best_slope:
            best, best_slope = i, slope
    return None if best is None else lrs[best]


def plot_lr_find(
    lrs: list[float], losses: list[float], smoothed: list[float], suggestion: float | None, path
) -> None:
    """Loss (raw and smoothed) against LR on a log axis, the suggestion marked; PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses, color="0.75", linewidth=1, label="loss")
    ax.plot(lrs, smoothed, color="C0", linewidth=2, label="smoothed")
    if suggestion is not None:
        ax.axvline(suggestion, color="C3", linestyle="--", label=f"suggested {suggestion:.1e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    top = min(max(smoothed), 4 * min(smoothed)) if smoothed else None
    if top is not None and math.isfinite(top):
        ax.set_ylim(top=top * 1.05)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class _Recorder:
    """Records (lr, loss) after each step and stops once the loss has clearly diverged."""

    def __init__(self, lrs: list[float], diverge_factor: float = 4.0) -> None:
        self.lrs = lrs
        self.losses: list[float] = []
        self.diverge_factor = diverge_factor

    def after_step(self, state: Any) -> None:
        self.losses.append(state.last_loss)
        smoothed = smooth_losses(self.losses)
        if not math.isfinite(state.last_loss) or (
            len(smoothed) > 5 and smoothed[-1] > self.diverge_factor * min(smoothed)
        ):
            state.should_stop = True


@leaves_process_as_found()
def run_lr_find(
    cfg: RunConfig,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 1.0,
    steps: int = 100,
    find_batch_size: int | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Sweep the LR on the training split; write lr_find.json/png; return the result.

    Args:
        find_batch_size: first find the largest batch size up to this one that fits in memory
            (halving on out-of-memory), and sweep with it.

    Returns:
        {"suggested_lr", "min_loss_lr", "batch_size", "lrs", "losses", "smoothed", "run_dir"}.
    """
    from accelerate import Accelerator

    lrs = lr_sweep(min_lr, max_lr, steps)
    set_determinism(cfg)
    model_path = resolve_model_path(cfg.model.init_from)
    data = prepare_data(cfg.data, cfg.seed)
    encoded = encode_splits(load_tokenizer(model_path), data, cfg.model.max_length)
    model, techniques, task = _model_and_task(cfg, model_path, data, encoded)
    accelerator = Accelerator(mixed_precision=cfg.train.mixed_precision)
    if find_batch_size is not None:
        model.to(accelerator.device)
        probe = training_probe(task, encoded["train"], accelerator.device)
        size = fit_batch_size(probe, find_batch_size, log=log)
        log(f"batch size {size} fits in memory")
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"batch_size": size})})
    # The optimizer is built at min_lr; the sweep multiplies it up step by step.
    train_cfg = cfg.train.model_copy(update={"lr": min_lr, "max_steps": steps})
    sweep_cfg = cfg.model_copy(update={"train": train_cfg})
    t = cfg.train
    train_data = TrainBatches(encoded["train"], t.batch_size, cfg.seed, t.group_by_length)
    training = build_training(sweep_cfg, model, len(train_data.epoch_batches(0)), techniques)
    state = training.state
    state.scheduler = torch.optim.lr_scheduler.LambdaLR(
        state.optimizer, lambda step: lrs[min(step, steps - 1)] / min_lr
    )
    run_dir = create_run_dir(cfg, "lr-find")
    save_config(cfg, run_dir / "config.yaml")
    log(f"lr-find: {steps} steps from {min_lr:.1e} to {max_lr:.1e} -> {run_dir}")
    state.model, state.optimizer = accelerator.prepare(state.model, state.optimizer)
    recorder = _Recorder(lrs)
    plan = LoopPlan(steps, t.grad_accum, t.max_grad_norm, eval_every=0, checkpoint_every=0)
    handlers = [*techniques, recorder, Progress(t.log_every)]
    fit(state, task, train_data, plan, accelerator, handlers, evaluate=None)

    result = _sweep_result(lrs, recorder.losses, t.batch_size, steps)
    write_json_atomic(run_dir / "lr_find.json", result)
    plot_lr_find(result["lrs"], result["losses"], result["smoothed"], result["suggested_lr"],
                 Path(run_dir) / "lr_find.png")  # fmt: skip
    result["run_dir"] = str(run_dir)
    return result


def _model_and_task(cfg: Any, model_path: Path, data: Any, encoded: dict) -> tuple:
    """The model, techniques and task `pretune finetune` would train with this config."""
    model = build_classifier(cfg.model, model_path, data.label_names)
    make_task = classify_task_factory(cfg.train, data.label_names, encoded["train"].labels or [])
    techniques, model, task = apply_techniques(cfg, model, make_task)
    return model, techniques, task


def _sweep_result(lrs: list[float], losses: list[float], batch_size: int, steps: int) -> dict:
    used = lrs[: len(losses)]
    smoothed = smooth_losses(losses)
    lowest = min(range(len(smoothed)), key=lambda i: smoothed[i]) if smoothed else None
    return {
        "suggested_lr": suggest_lr(used, smoothed),
        "min_loss_lr": used[lowest] if lowest is not None else None,
        "batch_size": batch_size,
        "stopped_early": len(losses) < steps,
        "lrs": used,
        "losses": losses,
        "smoothed": smoothed,
    }
