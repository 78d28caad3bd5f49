"""Pruning of BERT-style encoder classifiers: unstructured magnitude pruning and structured
pruning of attention heads, FFN neurons and whole layers.

What each one really buys (measured in docs/deploy.md):

- `magnitude`: zeroes the smallest weights of every encoder Linear (global L1 ranking, made
  permanent). The tensors stay dense, so size on disk and speed do not change; only sparse
  kernels or compression would turn the zeros into savings.
- `heads`: zeroes the query/key/value rows and output columns of the least important heads
  (weight norm ranking, at least one head kept per layer). transformers 5 dropped
  `prune_heads`, and its config cannot describe layers with different head counts, so heads are
  zeroed, not removed: the saved model loads anywhere but is not faster.
- `ffn`: removes the same share of intermediate neurons in every layer (rows of the
  intermediate dense, columns of the output dense): a smaller `intermediate_size`, really
  smaller and faster.
- `layers`: drops the top encoder layers: really smaller and faster.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pretune.errors import ConfigError

__all__ = [
    "PRUNERS",
    "count_parameters",
    "drop_layers",
    "encoder_layers",
    "linear_sparsity",
    "magnitude_prune",
    "prune_ffn",
    "prune_heads",
    "prune_model",
]


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's layer list of a BERT-style model (BERT, MiniLM, RoBERTa, ...)."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(
            f"structured pruning supports BERT-style encoders (base_model.encoder.layer); "
            f"{type(model).__name__} has none: use method=magnitude"
        )
    return layers


def _check_amount(amount: float) -> None:
    if not 0.0 <= amount < 1.0:
        raise ConfigError(f"amount={amount}: give a fraction in [0, 1)")


def _encoder_linears(model: nn.Module) -> list[nn.Linear]:
    # The classifier head is small and every weight of it matters: it is left dense.
    return [m for m in model.base_model.modules() if isinstance(m, nn.Linear)]


def magnitude_prune(model: nn.Module, amount: float) -> nn.Module:
    """Zero the `amount` share of encoder Linear weights with the smallest |w| (global)."""
    from torch.nn.utils import prune

    _check_amount(amount)
    params = [(m, "weight") for m in _encoder_linears(model)]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    for module, name in params:
        prune.remove(module, name)  # permanent: plain weights, no mask hooks left
    return model


def linear_sparsity(model: nn.Module) -> float:
    """Share of exactly-zero weights over the encoder's Linear layers."""
    weights = [m.weight for m in _encoder_linears(model)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / max(sum(w.numel() for w in weights), 1)


def count_parameters(model: nn.Module) -> int:
    """Number of stored parameters (zeros included: they still take memory)."""
    return sum(p.numel() for p in model.parameters())


def _head_slices(layer: nn.Module, heads: int) -> tuple[list[nn.Linear], nn.Linear, int]:
    attention = layer.attention
    qkv = [attention.self.query, attention.self.key, attention.self.value]
    return qkv, attention.output.dense, qkv[0].out_features // heads


def prune_heads(model: nn.Module, amount: float) -> nn.Module:
    """Zero the `amount` share of attention heads with the smallest weight norm (global)."""
    _check_amount(amount)
    heads = model.config.num_attention_heads
    scores: list[tuple[float, int, int]] = []
    for li, layer in enumerate(encoder_layers(model)):
        qkv, out, size = _head_slices(layer, heads)
        for h in range(heads):
            rows = slice(h * size, (h + 1) * size)
            norm = sum(float(lin.weight[rows].norm()) for lin in qkv)
            scores.append((norm + float(out.weight[:, rows].norm()), li, h))
    layers = encoder_layers(model)
    target = round(amount * len(scores))
    removed: dict[int, int] = {}
    with torch.no_grad():
        for _, li, h in sorted(scores):
            if target == 0:
                break
            if removed.get(li, 0) >= heads - 1:  # a layer with no head left would be all bias
                continue
            qkv, out, size = _head_slices(layers[li], heads)
            rows = slice(h * size, (h + 1) * size)
            for lin in qkv:
                lin.weight[rows] = 0
                lin.bias[rows] = 0
            out.weight[:, rows] = 0
            removed[li] = removed.get(li, 0) + 1
            target -= 1
    return model


def _sliced_linear(linear: nn.Linear, keep: torch.Tensor, dim: int) -> nn.Linear:
    weight = linear.weight.index_select(dim, keep).clone()
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None)
    new.weight = nn.Parameter(weight)
    if linear.bias is not None:
        bias = linear.bias if dim == 1 else linear.bias.index_select(0, keep)
        new.bias = nn.Parameter(bias.clone())
    return new


def prune_ffn(model: nn.Module, amount: float) -> nn.Module:
    """Remove the `amount` share of FFN neurons in every layer (smallest in x out norm)."""
    _check_amount(amount)
    size = model.config.intermediate_size
    keep_count = max(1, size - round(amount * size))
    with torch.no_grad():
        for layer in encoder_layers(model):
            up, down = layer.intermediate.dense, layer.output.dense
            importance = up.weight.norm(dim=1) * down.weight.norm(dim=0)
            keep = importance.topk(keep_count).indices.sort().values
            layer.intermediate.dense = _sliced_linear(up, keep, 0)
            layer.output.dense = _sliced_linear(down, keep, 1)
    model.config.intermediate_size = keep_count  # so save/load rebuilds the smaller shapes
    return model


def drop_layers(model: nn.Module, amount: float) -> nn.Module:
    """Drop the top `amount` share of encoder layers (at least one layer is kept)."""
    _check_amount(amount)
    layers = encoder_layers(model)
    keep = max(1, len(layers) - round(amount * len(layers)))
    model.base_model.encoder.layer = nn.ModuleList(list(layers)[:keep])
    model.config.num_hidden_layers = keep
    return model


PRUNERS: dict[str, Callable[[nn.Module, float], nn.Module]] = {
    "magnitude": magnitude_prune,
    "heads": prune_heads,
    "ffn": prune_ffn,
    "layers": drop_layers,
}


def prune_model(model: nn.Module, method: str, amount: float) -> nn.Module:
    """A pruned copy of `model` (the original is left untouched)."""
    if method not in PRUNERS:
        raise ConfigError(f"method={method} unknown; choose from {', '.join(PRUNERS)}")
    return PRUNERS[method](copy.deepcopy(model), amount)


def describe(model: nn.Module) -> dict[str, Any]:
    """Parameters, zero share and shape facts of a (pruned) model, for reports."""
    return {
        "parameters": count_parameters(model),
        "linear_sparsity": round(linear_sparsity(model), 4),
        "layers": model.config.num_hidden_layers,
        "intermediate_size": model.config.intermediate_size,
    }
