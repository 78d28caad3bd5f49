"""What the training session sets up around the loop, as small functions.

    set_determinism -> apply_techniques -> build_training (optimizer, schedule, State,
    LoopPlan) -> [resume_training] -> standard_handlers -> fit -> export_model -> save_model

`train/session.py` calls these in that order for every recipe.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pretune.files import replace_folder
from pretune.techniques.registry import build_techniques
from pretune.train.callbacks import (
    BestModelKeeper,
    Checkpointer,
    MetricsLog,
    Progress,
    truncate_metrics_log,
)
from pretune.train.checkpoint import latest_intact_checkpoint, load_checkpoint, restore_rng_state
from pretune.train.checkpoint_files import as_os_error, fsync_file
from pretune.train.loop import LoopPlan, steps_per_epoch, total_steps
from pretune.train.optim import OPTIMIZERS, build_scheduler, parameter_groups, warmup_steps_for
from pretune.train.run_folder import is_main_process
from pretune.train.sharded import is_sharded
from pretune.train.state import State

__all__ = [
    "Training",
    "apply_techniques",
    "bind_task_model",
    "build_training",
    "export_model",
    "innermost_task",
    "resume_training",
    "save_model",
    "set_determinism",
    "standard_handlers",
]


def set_determinism(cfg: Any) -> None:
    """Seed everything and, by default, use deterministic kernels (exact resume needs it)."""
    from accelerate.utils import set_seed

    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    if cfg.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    set_seed(cfg.seed)


def innermost_task(task: Any) -> Any:
    """The task inside a chain of technique wrappers (techniques/wrapping.py)."""
    while "inner" in vars(task):
        task = task.inner
    return task


def bind_task_model(task: Any, model: torch.nn.Module) -> None:
    """Point the innermost task of a chain of technique wrappers at `model` (e.g. the
    DDP-wrapped model after `accelerator.prepare`, or back to the plain one for testing)."""
    innermost_task(task).model = model


def apply_techniques(
    cfg: Any,
    model: torch.nn.Module,
    make_task: Callable[[torch.nn.Module], Any],
    extra: Sequence[Any] = (),
) -> tuple[list[Any], torch.nn.Module, Any]:
    """The configured techniques (in config order), then `extra` ones a recipe built itself:
    each prepares the model, the task is made around the prepared model, and each wraps it
    (the last one outermost). Returns (techniques, model, task)."""
    techniques = [*build_techniques(cfg.techniques), *extra]
    for technique in techniques:
        model = technique.prepare_model(model)
    task = make_task(model)
    for technique in techniques:
        task = technique.wrap_task(task)
    return techniques, model, task


@dataclass
class Training:
    """The mutable training state plus the fixed plan the loop follows."""

    state: State
    plan: LoopPlan
    techniques: list[Any]


def build_training(
    cfg: Any, model: torch.nn.Module, num_train_batches: int, techniques: list[Any]
) -> Training:
    """Optimizer (with technique-adjusted parameter groups), LR schedule, State and LoopPlan."""
    t = cfg.train
    per_epoch = steps_per_epoch(num_train_batches, t.grad_accum)
    total = total_steps(t.epochs, per_epoch, t.max_steps)
    groups = parameter_groups(model, t.weight_decay)
    for technique in techniques:
        groups = technique.param_groups(groups, model)
    for group in groups:
        # A technique sets a group's LR relative to train.lr (layer-wise decay, head multiplier).
        if "lr_scale" in group:
            group["lr"] = t.lr * group.pop("lr_scale")
    params = dict(t.optimizer_params)
    if t.distributed == "fsdp" and not {"fused", "foreach"} & set(params):
        params["foreach"] = True  # sharded (DTensor) parameters: the multi-tensor path
    optimizer = OPTIMIZERS.create(t.optimizer, groups, t.lr, **params)
    warmup = warmup_steps_for(t, total)
    scheduler = build_scheduler(optimizer, t.schedule, warmup, total, **t.schedule_params)
    state = State(model, optimizer, scheduler, total_steps=total, steps_per_epoch=per_epoch)
    plan = LoopPlan(total, t.grad_accum, t.max_grad_norm, t.eval_every, t.checkpoint_every)
    return Training(state, plan, techniques)


def resume_training(training: Training, run_dir: Path, command: str, log: Callable) -> dict:
    """Load the newest intact checkpoint into `training` and drop the metrics logged after it
    (so the resumed log reads as one uninterrupted run); returns its trainer_state. A run
    stopped before its first checkpoint starts again from the beginning (an empty log)."""
    path = latest_intact_checkpoint(run_dir, warn=log)
    if path is None:
        if is_main_process():
            truncate_metrics_log(run_dir / "metrics.jsonl", -1)
        log(
            f"resuming {run_dir}: no checkpoint was written before it stopped, so `pretune "
            f"{command}` starts it again from the beginning (step 0/{training.state.total_steps})"
        )
        return {}
    model_state, training_state, trainer_state = load_checkpoint(path)
    state = training.state
    state.model.load_state_dict(model_state)
    state.optimizer.load_state_dict(training_state["optimizer"])
    state.scheduler.load_state_dict(training_state["scheduler"])
    restore_rng_state(training_state["rng"])
    saved = training_state.get("techniques", {})
    for technique in training.techniques:
        if technique.name in saved:
            technique.load_state_dict(saved[technique.name])
    # A checkpoint written before a counter existed (best_loss) keeps that counter's default.
    state.restore_cursor({k: trainer_state[k] for k in state.cursor() if k in trainer_state})
    if is_main_process():
        truncate_metrics_log(run_dir / "metrics.jsonl", state.step)
    log(f"resuming {run_dir} from {path.name} (step {state.step}/{state.total_steps})")
    return trainer_state


def _headline(cfg: Any) -> str:
    """The recipe's headline metric: the default of its `eval.metric` (entity F1 for NER,
    exact match for QA, accuracy for classifiers), whatever metric this run monitors."""
    field = type(cfg.eval).model_fields.get("metric")
    return str(field.default) if field is not None else cfg.eval.metric


def standard_handlers(
    cfg: Any,
    run_dir: Path,
    training: Training,
    *,
    has_validation: bool,
    metric: str,
    elapsed: Callable[[], dict],
    live: bool | None,
    main_process: bool = True,
) -> list[Any]:
    """Techniques first (they may change state), then the callbacks that observe it.

    The best-model keeper comes first among callbacks so that the others see this
    evaluation's verdict (best so far or not). In a multi-process run only the main process
    prints, logs and writes files; every process tracks the best metric so that early
    stopping stops them all at the same step.
    """
    handlers: list[Any] = list(training.techniques)
    if has_validation:
        best = run_dir / "checkpoints" / "best" / "model.safetensors"
        patience = cfg.train.early_stopping_patience
        handlers.append(BestModelKeeper(best, metric, patience, save=main_process))
    if not main_process:
        if is_sharded(training.state.model):  # FSDP: the others help gather each checkpoint
            handlers.append(Checkpointer(run_dir, cfg.train.keep_checkpoints, save=False))
        return handlers
    handlers += [
        Progress(cfg.train.log_every, live=live, headline=_headline(cfg), monitored=metric),
        MetricsLog(run_dir / "metrics.jsonl", cfg.train.log_every),
        Checkpointer(run_dir, cfg.train.keep_checkpoints, elapsed, training.techniques),
    ]
    return handlers


def export_model(
    model: torch.nn.Module, techniques: list[Any], restored_best: bool = False
) -> torch.nn.Module:
    """What gets tested and saved: each technique may swap weights in or merge adapters.

    With `restored_best`, the model already holds the best validation weights, which were
    saved while weight-averaging techniques (`replaces_weights`) had their average swapped in:
    those are skipped.
    """
    # Techniques that replace the model's structure (LoRA merging its adapters) go last, so
    # that the others (EMA copying weights in) still see the structure they trained.
    for technique in sorted(techniques, key=lambda t: getattr(t, "export_last", False)):
        if restored_best and getattr(technique, "replaces_weights", False):
            continue
        model = technique.export_model(model)
    return model


def save_model(model: Any, run_dir: Path, tokenizer: Any = None) -> None:
    """`model/` in Hugging Face format (with the tokenizer, for text models); written beside,
    fsynced and swapped in as checkpoints are (`files.replace_folder`): a crash leaves the old
    `model/` or the new one, never a half-written one."""
    for leftover in run_dir.glob(".model.tmp-*"):  # of a killed run (one writer per folder)
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = run_dir / f".model.tmp-{os.getpid()}"
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        for file in tmp.rglob("*"):
            if file.is_file():
                fsync_file(file)
        replace_folder(tmp, run_dir / "model")
    except Exception as exc:  # safetensors reports a full disk as its own error type
        os_error = as_os_error(exc, run_dir / "model")
        if os_error is None:
            raise
        raise os_error from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
