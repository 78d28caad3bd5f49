"""Devices and processes: the accelerator of a run, and DDP or FSDP preparation.

`make_accelerator` gives GPU when present, else CPU processes (gloo) when launched with
torchrun / `accelerate launch` / `pretune ... --nproc N`. Every recipe trains through the
session (`train/session.py`), which prepares and unwraps its model here, so DDP and FSDP
work the same for every recipe.
"""

from __future__ import annotations

import copy
import os
import weakref
from collections.abc import Callable
from typing import Any

import torch

from pretune.errors import ConfigError
from pretune.train.sharded import (
    full_model_state,
    is_sharded,
    load_full_optimizer_state,
    optimizer_state_by_name,
)

__all__ = ["fsdp_units", "make_accelerator", "prepare_model", "unwrap_for_export"]


def make_accelerator(cfg: Any) -> Any:
    """An accelerate.Accelerator for this run: GPU when present, else CPU processes (gloo) when
    launched with torchrun / `accelerate launch` / `pretune ... --nproc N`.

    `train.distributed=fsdp` gives accelerate an FSDP2 plugin (sharded parameters, gradients
    and optimizer state; one unit per transformer layer). With one process it changes nothing.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    fsdp = cfg.train.distributed == "fsdp"
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


def _fsdp_plugin(cfg: Any) -> Any:
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
