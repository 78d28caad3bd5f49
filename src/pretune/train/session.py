"""What every training recipe does around the loop, whatever its task.

    set_determinism -> build techniques -> build_training (optimizer, schedule, State, LoopPlan)
    -> [resume] -> standard_handlers -> fit -> export_model -> save_final_model

Recipes (`finetune.py`, `pretrain.py`, ...) call these and keep only what is theirs: the data,
the model, the task and the summary.
"""

from __future__ import annotations

import copy
import os
import shutil
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pretune.config import RunConfig
from pretune.errors import CheckpointError, ConfigError
from pretune.techniques.registry import build_techniques
from pretune.train.callbacks import (
    BestModelKeeper,
    Checkpointer,
    MetricsLog,
    Progress,
    truncate_metrics_log,
)
from pretune.train.checkpoint import latest_intact_checkpoint, load_checkpoint, restore_rng_state
from pretune.train.loop import LoopPlan, steps_per_epoch, total_steps
from pretune.train.optim import OPTIMIZERS, build_scheduler, parameter_groups
from pretune.train.run_folder import is_main_process
from pretune.train.sharded import (
    full_model_state,
    is_sharded,
    load_full_optimizer_state,
    optimizer_state_by_name,
)
from pretune.train.state import State

__all__ = [
    "Training",
    "bind_task_model",
    "build_training",
    "export_model",
    "fsdp_units",
    "make_accelerator",
    "prepare_model",
    "prepare_techniques",
    "resume_training",
    "save_final_model",
    "set_determinism",
    "standard_handlers",
    "unwrap_for_export",
]


def set_determinism(cfg: RunConfig) -> None:
    """Seed everything and, by default, use deterministic kernels (exact resume needs it)."""
    from accelerate.utils import set_seed

    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    if cfg.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    set_seed(cfg.seed)


def make_accelerator(cfg: RunConfig, *, supports_fsdp: bool = False) -> Any:
    """An accelerate.Accelerator for this run: GPU when present, else CPU processes (gloo) when
    launched with torchrun / `accelerate launch` / `pretune ... --nproc N`.

    `train.distributed=fsdp` gives accelerate an FSDP2 plugin (sharded parameters, gradients
    and optimizer state; one unit per transformer layer). With one process it changes nothing.
    A recipe passes `supports_fsdp=True` once it prepares and exports its model through
    `prepare_model` and `unwrap_for_export`; the others refuse fsdp with several processes.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    fsdp = cfg.train.distributed == "fsdp"
    if fsdp and not supports_fsdp and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            "train.distributed=fsdp: this recipe does not support FSDP yet (only `pretune "
            "finetune` does); use train.distributed=ddp"
        )
    # accelerate keeps its state per process; a second run from Python (a search, k-fold CV)
    # may ask for another precision. The process group (PartialState) is kept.
    _undo_cpu_fsdp()
    AcceleratorState._reset_state(reset_partial_state=False)
    plugin = _fsdp_plugin(cfg) if fsdp else None
    # Giving accelerate a plugin sets ACCELERATE_USE_FSDP=true in os.environ for good, which
    # would make a later ddp run in this process (a search, CV) an FSDP one: put it back.
    before = os.environ.get("ACCELERATE_USE_FSDP")
    try:
        accelerator = Accelerator(
            mixed_precision=cfg.train.mixed_precision,
            cpu=not torch.cuda.is_available(),
            fsdp_plugin=plugin,
        )
    finally:
        if before is None:
            os.environ.pop("ACCELERATE_USE_FSDP", None)
        else:
            os.environ["ACCELERATE_USE_FSDP"] = before
    if plugin is not None and accelerator.num_processes > 1 and not accelerator.is_fsdp2:
        _use_fsdp_on_cpu(accelerator, plugin, cfg.train.mixed_precision)
    return accelerator


def _fsdp_plugin(cfg: RunConfig) -> Any:
    from accelerate.utils import FullyShardedDataParallelPlugin

    t = cfg.train
    if t.fsdp_wrap:
        wrap = {
            "auto_wrap_policy": "transformer_based_wrap",
            "transformer_cls_names_to_wrap": t.fsdp_wrap,
        }
    else:  # accelerate reads the model's _no_split_modules (e.g. BertLayer) at prepare time
        wrap = {"auto_wrap_policy": "transformer_based_wrap"}
    return FullyShardedDataParallelPlugin(
        fsdp_version=2,
        reshard_after_forward=t.fsdp_reshard_after_forward,
        # pretune writes its own checkpoints from full state dicts (train/sharded.py); this
        # only matters to accelerate's save_state, which pretune does not use.
        state_dict_type="FULL_STATE_DICT",
        cpu_ram_efficient_loading=False,
        **wrap,
    )


# accelerate 1.15 turns its FSDP plugin on only for GPU-like devices: with CPU processes it
# silently falls back to DDP. torch's FSDP2 (`fully_shard`) itself runs on CPU over gloo, so
# for CPU runs (tests, and machines without GPUs) the state is switched to FSDP by hand. Every
# AcceleratorState() copies PartialState's fields, hence both are set; the next
# make_accelerator puts PartialState back.
_CPU_FSDP = {"forced": False}


def _use_fsdp_on_cpu(accelerator: Any, plugin: Any, mixed_precision: str) -> None:
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    if accelerator.distributed_type != DistributedType.MULTI_CPU:
        raise ConfigError(
            f"train.distributed=fsdp: not available with accelerate's "
            f"{accelerator.distributed_type.value} setup; use train.distributed=ddp"
        )
    if mixed_precision != "no":
        plugin.set_mixed_precision(mixed_precision)
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    accelerator.state.distributed_type = DistributedType.FSDP
    accelerator.state.fsdp_plugin = plugin
    _CPU_FSDP["forced"] = True


def _undo_cpu_fsdp() -> None:
    if _CPU_FSDP["forced"]:
        from accelerate.state import PartialState
        from accelerate.utils import DistributedType

        PartialState._shared_state["distributed_type"] = DistributedType.MULTI_CPU
        _CPU_FSDP["forced"] = False


# Under FSDP the main process keeps an unsharded copy of the model to load the gathered final
# weights into: an FSDP2 module cannot be turned back into a plain one, and testing and saving
# model/ happen on the main process alone (a sharded forward would wait for the others).
_PLAIN_COPIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fsdp_units(model: torch.nn.Module, configured: list[str] | None) -> list[str]:
    """The layer classes FSDP shards as one unit each: `train.fsdp_wrap`, checked, or the
    model's own `_no_split_modules` (its transformer layers).

    accelerate shards the input embeddings as a unit of their own after the layers, so a class
    that contains them (BertEmbeddings) must not be a unit too: it would shard them twice.
    """
    classes = {type(m).__name__ for m in model.modules()}
    embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    holders = {
        type(m).__name__
        for m in model.modules()
        if embed is not None and m is not model and any(c is embed for c in m.modules())
    }
    if configured:
        unknown = [name for name in configured if name not in classes]
        if unknown:
            raise ConfigError(
                f"train.fsdp_wrap: no {', '.join(unknown)} in this model; "
                f"name module classes it has, e.g. {', '.join(sorted(classes)[:8])}"
            )
        clash = [name for name in configured if name in holders]
        if clash:
            raise ConfigError(
                f"train.fsdp_wrap: {', '.join(clash)} holds the input embeddings, which are "
                "sharded as their own unit; leave it out"
            )
        return list(configured)
    return [n for n in getattr(model, "_no_split_modules", None) or [] if n not in holders]


def prepare_model(
    accelerator: Any, model: torch.nn.Module, optimizer: Any, log: Callable = print
) -> tuple[Any, Any]:
    """`accelerator.prepare(model, optimizer)`, plus what FSDP needs around it: a plain copy of
    the model on the main process, and the optimizer state of a resumed run carried over to the
    sharded parameters (accelerate swaps the parameters, which would drop it)."""
    if not accelerator.is_fsdp2:
        return accelerator.prepare(model, optimizer)
    plugin = accelerator.state.fsdp_plugin
    plugin.transformer_cls_names_to_wrap = fsdp_units(model, plugin.transformer_cls_names_to_wrap)
    plain = copy.deepcopy(model) if accelerator.is_main_process else None
    resumed = optimizer_state_by_name(model, optimizer) if optimizer.state else None
    if resumed is not None:
        optimizer.state.clear()  # keyed by the unsharded parameters, which sharding replaces
    prepared, optimizer = accelerator.prepare(model, optimizer)
    if resumed is not None:
        load_full_optimizer_state(prepared, optimizer, resumed)
    if plain is not None:
        _PLAIN_COPIES[prepared] = plain
        held = sum(_local_numel(p) for p in prepared.parameters())
        total = sum(p.numel() for p in plain.parameters())
        units = ", ".join(plugin.transformer_cls_names_to_wrap) or "the whole model"
        log(
            f"fsdp: sharded over {accelerator.num_processes} processes by {units}; this "
            f"process holds {held:,} of {total:,} parameter values"
        )
    return prepared, optimizer


def _local_numel(param: torch.Tensor) -> int:
    local = getattr(param, "to_local", None)  # a DTensor: only this process's shard is stored
    return local().numel() if local is not None else param.numel()


def unwrap_for_export(accelerator: Any, model: Any) -> torch.nn.Module:
    """The trained model as a plain module, to test and save on the main process.

    Under FSDP every process must call this (it gathers the full weights); on the other
    processes the sharded model comes back unchanged.
    """
    if not is_sharded(model):
        return accelerator.unwrap_model(model)
    weights = full_model_state(model)
    plain = _PLAIN_COPIES.pop(model, None)
    if plain is None:
        return model
    plain.load_state_dict(weights)
    return plain.to(accelerator.device)


def bind_task_model(task: Any, model: torch.nn.Module) -> None:
    """Point the innermost task of a chain of technique wrappers at `model` (e.g. the
    DDP-wrapped model after `accelerator.prepare`, or back to the plain one for testing)."""
    while "inner" in vars(task):  # TaskWrapper chains (techniques/wrapping.py)
        task = task.inner
    task.model = model


def prepare_techniques(cfg: RunConfig, model: torch.nn.Module) -> tuple[list[Any], Any]:
    """Build the configured techniques and let each prepare the model, in config order."""
    techniques = build_techniques(cfg.techniques)
    for technique in techniques:
        model = technique.prepare_model(model)
    return techniques, model


@dataclass
class Training:
    """The mutable training state plus the fixed plan the loop follows."""

    state: State
    plan: LoopPlan
    techniques: list[Any]


def build_training(
    cfg: RunConfig, model: torch.nn.Module, num_train_batches: int, techniques: list[Any]
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
    warmup = t.warmup_for(total)
    scheduler = build_scheduler(optimizer, t.schedule, warmup, total, **t.schedule_params)
    state = State(model, optimizer, scheduler, total_steps=total, steps_per_epoch=per_epoch)
    plan = LoopPlan(total, t.grad_accum, t.max_grad_norm, t.eval_every, t.checkpoint_every)
    return Training(state, plan, techniques)


def resume_training(training: Training, run_dir: Path, command: str, log: Callable) -> dict:
    """Load the newest intact checkpoint into `training` and drop the metrics logged after it
    (so the resumed log reads as one uninterrupted run); returns its trainer_state."""
    path = latest_intact_checkpoint(run_dir, warn=log)
    if path is None:
        raise CheckpointError(
            f"--resume {run_dir}: no checkpoint was written before the run stopped; start it "
            f"again with `pretune {command} {run_dir / 'config.yaml'}`"
        )
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
    state.restore_cursor({k: trainer_state[k] for k in state.cursor()})
    if is_main_process():
        truncate_metrics_log(run_dir / "metrics.jsonl", state.step)
    log(f"resuming {run_dir} from {path.name} (step {state.step}/{state.total_steps})")
    return trainer_state


def standard_handlers(
    cfg: RunConfig,
    run_dir: Path,
    training: Training,
    *,
    has_validation: bool,
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
        handlers.append(BestModelKeeper(best, cfg.eval.metric, patience, save=main_process))
    if not main_process:
        if is_sharded(training.state.model):  # FSDP: the others help gather each checkpoint
            handlers.append(Checkpointer(run_dir, cfg.train.keep_checkpoints, save=False))
        return handlers
    handlers += [
        Progress(cfg.train.log_every, live=live),
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


def save_final_model(model: Any, tokenizer: Any, run_dir: Path) -> None:
    """`model/` in Hugging Face format; written beside and renamed, never half-written."""
    tmp = run_dir / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(run_dir / "model", ignore_errors=True)
    os.replace(tmp, run_dir / "model")
