"""Full (unsharded) state dicts of a model trained with FSDP, in the run folder's normal format.

Under FSDP every process holds a shard of each parameter and of the optimizer state. A
checkpoint is written from full tensors, so that it loads in one process like any other:

- `full_model_state`: the model's `state_dict()` with the usual names;
- `full_optimizer_state`: what `optimizer.state_dict()` of the plain model gives (parameters
  numbered 0..n-1 in param-group order), not the name-keyed form of torch.distributed.checkpoint.

Gathering is a collective: with a sharded model EVERY process must call these, in the same
order; only process 0 gets the tensors (the others get `{}`), already on CPU. For a plain or
DDP model they are the ordinary `state_dict()` calls and involve no communication.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "full_model_state",
    "full_optimizer_state",
    "is_sharded",
    "load_full_optimizer_state",
    "optimizer_state_by_name",
]


def is_sharded(model: Any) -> bool:
    """True for a model prepared with FSDP (FSDP2 `fully_shard` or the FSDP1 wrapper)."""
    try:
        from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel
    except ImportError:  # torch built without distributed support
        return False
    return isinstance(model, FSDPModule | FullyShardedDataParallel)


def _full_options() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # cpu_offload: gathered tensors go to CPU on rank 0 only, so no device holds two copies.
    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def _plain_optimizer(optimizer: Any) -> torch.optim.Optimizer:
    return getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer


def full_model_state(model: Any) -> dict[str, torch.Tensor]:
    """The whole model's state dict (collective when sharded; `{}` on processes other than 0)."""
    if not is_sharded(model):
        return getattr(model, "module", model).state_dict()  # DDP keeps the model in .module
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options())


def full_optimizer_state(model: Any, optimizer: Any) -> dict[str, Any]:
    """The optimizer's state dict as the plain model's optimizer would write it (collective
    when sharded; `{}` on processes other than 0)."""
    optimizer = _plain_optimizer(optimizer)
    if not is_sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    named = get_optimizer_state_dict(model, optimizer, options=_full_options())
    return _by_index(named) if named else {}


def _by_index(named: dict[str, Any]) -> dict[str, Any]:
    # torch.optim.Optimizer.state_dict numbers parameters 0, 1, ... across the param groups in
    # order; get_optimizer_state_dict keeps that order but uses parameter names instead.
    index: dict[str, int] = {}
    groups = []
    for group in named["param_groups"]:
        ids = [index.setdefault(name, len(index)) for name in group["params"]]
        groups.append({**group, "params": ids})
    state = {index[name]: value for name, value in named["state"].items()}
    return {"state": state, "param_groups": groups}


def optimizer_state_by_name(model: torch.nn.Module, optimizer: Any) -> dict[str, Any]:
    """A plain (unsharded) optimizer's state dict keyed by parameter name instead of number:
    the form `load_full_optimizer_state` needs once the model has been sharded."""
    optimizer = _plain_optimizer(optimizer)
    names = {param: name for name, param in model.named_parameters()}
    order = [names[p] for group in optimizer.param_groups for p in group["params"]]
    saved = optimizer.state_dict()
    groups = [
        {**group, "params": [order[i] for i in group["params"]]} for group in saved["param_groups"]
    ]
    return {"state": {order[i]: v for i, v in saved["state"].items()}, "param_groups": groups}


def load_full_optimizer_state(model: Any, optimizer: Any, by_name: dict[str, Any]) -> None:
    """Load a full, name-keyed optimizer state into the optimizer of a sharded model (every
    process passes the same full state; each keeps its own shard)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(
        model,
        _plain_optimizer(optimizer),
        optim_state_dict=by_name,
        options=StateDictOptions(full_state_dict=True),
    )
