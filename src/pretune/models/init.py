"""Weight initialisation: Xavier/Glorot and He/Kaiming for new heads and from-scratch models.

`model.init=xavier_uniform` re-initialises the new classification head of a pre-trained
encoder (its body keeps the pre-trained weights); a model built from scratch gets every Linear
layer initialised (`scope="all"`). Biases start at zero.

Which to pick: Xavier keeps the variance of activations through layers without a rectifier
(a linear head on top of a tanh pooler); Kaiming (He) compensates for ReLU/GELU halving it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal

import torch

from pretune.errors import ConfigError

__all__ = ["HEAD_PREFIXES", "INITIALISERS", "head_linears", "init_linear", "init_model"]

# Names Hugging Face gives to new classification heads (BERT/RoBERTa/DistilBERT/GPT-style).
HEAD_PREFIXES = ("classifier", "pre_classifier", "score")

INITIALISERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "xavier_uniform": torch.nn.init.xavier_uniform_,
    "xavier_normal": torch.nn.init.xavier_normal_,
    # fan_in + ReLU gain: std = sqrt(2 / fan_in), as in He et al. 2015.
    "kaiming_uniform": lambda w: torch.nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "kaiming_normal": lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"),
}


@torch.no_grad()
def init_linear(layer: torch.nn.Linear, method: str) -> None:
    """Initialise one Linear layer's weight with `method` and its bias with zeros.

    Raises:
        ConfigError: an unknown method.
    """
    if method not in INITIALISERS:
        raise ConfigError(
            f"model.init={method!r} is unknown; choose none, {', '.join(INITIALISERS)}"
        )
    INITIALISERS[method](layer.weight)
    if layer.bias is not None:
        layer.bias.zero_()


def head_linears(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Linear]]:
    """(name, layer) for every Linear of the classification head."""
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name.split(".")[0] in HEAD_PREFIXES:
            yield name, module


def init_model(
    model: torch.nn.Module, method: str, scope: Literal["head", "all"] = "head"
) -> list[str]:
    """Initialise the head's (or every) Linear layer with `method`; returns their names.

    Args:
        model: a Hugging Face model (or any module).
        method: none, xavier_uniform, xavier_normal, kaiming_uniform or kaiming_normal.
        scope: "head" for a new head on a pre-trained body, "all" for a from-scratch model.

    Raises:
        ConfigError: an unknown method, or no head layer found with scope="head".
    """
    if method == "none":
        return []
    if scope == "all":
        layers = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    else:
        layers = list(head_linears(model))
    if not layers:
        raise ConfigError(
            f"model.init={method}: found no classification-head Linear layer (looked for "
            f"modules named {', '.join(HEAD_PREFIXES)})"
        )
    for _, layer in layers:
        init_linear(layer, method)
    return [name for name, _ in layers]
