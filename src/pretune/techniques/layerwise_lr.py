"""Layer-wise LR decay and discriminative learning rates for pre-trained encoders.

Lower layers of a pre-trained encoder hold general features that fine-tuning should barely
move; upper layers and the new head must move a lot. Layer-wise decay gives layer `l` of `L`
the learning rate `lr * decay ** (L + 1 - depth)`: the head trains at `lr`, the top encoder
layer at `lr * decay`, ..., the embeddings at `lr * decay ** (L + 1)`. `head_lr_multiplier`
further scales the head (discriminative LRs: a fresh head learns faster than the backbone).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pretune.techniques.base import Technique
from pretune.techniques.entries import TECHNIQUES

if TYPE_CHECKING:
    import torch

__all__ = ["LayerwiseLR", "layer_depth", "layer_lr_scales", "num_layers"]

# Transformer blocks: BERT/RoBERTa `encoder.layer.3.`, DistilBERT `transformer.layer.3.`,
# most decoders `layers.3.`, GPT-2 `h.3.`.
_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|blocks)\.(\d+)\.")


def num_layers(names: list[str]) -> int:
    """How many numbered transformer blocks the parameter names mention."""
    found = [int(m.group(1)) for name in names if (m := _LAYER.search(name))]
    return max(found) + 1 if found else 0


def layer_depth(name: str, layers: int) -> int:
    """0 for embeddings, `i + 1` for block `i`, `layers + 1` for everything above (pooler, head)."""
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    if "embed" in name:
        return 0
    return layers + 1


def layer_lr_scales(
    names: list[str], decay: float, head_lr_multiplier: float = 1.0
) -> dict[str, float]:
    """LR multiplier of each parameter name (relative to the peak LR)."""
    layers = num_layers(names)
    scales = {}
    for name in names:
        depth = layer_depth(name, layers)
        scale = decay ** (layers + 1 - depth)
        scales[name] = scale * head_lr_multiplier if depth == layers + 1 else scale
    return scales


@TECHNIQUES.register("layerwise_lr", "layer-wise LR decay (embeddings lowest) and a head LR factor")
class LayerwiseLR(Technique):
    """Args:
    decay: LR factor per layer going down from the head (0.8-0.95 is usual; 1.0: no decay,
        only the head multiplier).
    head_lr_multiplier: extra factor for the head and pooler (discriminative LRs; e.g. 10).
    """

    name = "layerwise_lr"

    def __init__(self, decay: float = 0.9, head_lr_multiplier: float = 1.0) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        if head_lr_multiplier <= 0:
            raise ValueError(f"head_lr_multiplier must be > 0, got {head_lr_multiplier}")
        self.decay = decay
        self.head_lr_multiplier = head_lr_multiplier

    def param_groups(
        self, groups: list[dict[str, Any]], model: torch.nn.Module
    ) -> list[dict[str, Any]]:
        """Split each group by LR scale; other group settings (weight decay) are kept."""
        name_of = {id(p): n for n, p in model.named_parameters()}
        scales = layer_lr_scales(list(name_of.values()), self.decay, self.head_lr_multiplier)
        split: list[dict[str, Any]] = []
        for group in groups:
            by_scale: dict[float, list[torch.nn.Parameter]] = {}
            for param in group["params"]:
                scale = scales[name_of[id(param)]] * group.get("lr_scale", 1.0)
                by_scale.setdefault(scale, []).append(param)
            for scale, params in sorted(by_scale.items()):
                split.append({**group, "params": params, "lr_scale": scale})
        return split

    def __repr__(self) -> str:
        return f"LayerwiseLR(decay={self.decay}, head_lr_multiplier={self.head_lr_multiplier})"
