"""Inference for classifiers that read one position: the last encoder layer computed there only.

A BERT-family sequence classifier reads the final hidden state of the first token ([CLS]) and
nothing else, so in the last layer the queries, attention output, residual and feed-forward of
every other position are work nobody uses: for MiniLM at 256 tokens about 14% of a forward
pass. `first_token_inference` replaces that layer with one that still projects keys and values
from every position (the first token attends to all of them) but computes the rest for position
0 only. The logits are the same up to float rounding; predictions are identical except at exact
ties. Models whose head reads more than the first token, or whose layers have another shape,
are left unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FirstTokenLayer", "first_token_inference", "reads_first_token_only"]

# Sequence classifiers whose head reads only hidden_states[:, 0] (BERT's pooler, RoBERTa's and
# ELECTRA's classification heads), with BERT-shaped encoder layers.
_FIRST_TOKEN_CLASSIFIERS = {
    "BertForSequenceClassification": "bert",
    "RobertaForSequenceClassification": "roberta",
    "XLMRobertaForSequenceClassification": "roberta",
    "CamembertForSequenceClassification": "roberta",
    "ElectraForSequenceClassification": "electra",
}


class FirstTokenLayer(nn.Module):
    """An encoder layer (BERT-shaped) evaluated for the first position only: (B, T, H) in,
    (B, 1, H) out. Keys and values still come from all T positions."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *_: Any,
        **__: Any,
    ) -> torch.Tensor:  # fmt: skip
        attention = self.layer.attention.self
        first = hidden_states[:, :1]
        batch = hidden_states.shape[0]

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, x.shape[1], -1, attention.attention_head_size).transpose(1, 2)

        query = heads(attention.query(first))
        key, value = heads(attention.key(hidden_states)), heads(attention.value(hidden_states))
        if attention_mask is not None and attention_mask.shape[-2] > 1:
            attention_mask = attention_mask[..., :1, :]  # the first query's row
        # Both of HF's mask forms work here: boolean (True: attend) and additive float.
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, scale=attention.scaling
        )
        context = context.transpose(1, 2).reshape(batch, 1, -1)
        attended = self.layer.attention.output(context, first)
        return self.layer.output(self.layer.intermediate(attended), attended)


def _encoder_layers(model: nn.Module) -> nn.ModuleList | None:
    base_name = _FIRST_TOKEN_CLASSIFIERS.get(type(model).__name__)
    base = getattr(model, base_name, None) if base_name else None
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    return layers if isinstance(layers, nn.ModuleList) and len(layers) else None


def reads_first_token_only(model: nn.Module) -> bool:
    """Whether `model` is a classifier `first_token_inference` can speed up: a known
    first-token head, BERT-shaped layers, an encoder (not a decoder), transformers >= 5
    (whose layers return a tensor, not a tuple)."""
    import transformers

    layers = _encoder_layers(model)
    if layers is None or int(transformers.__version__.split(".")[0]) < 5:
        return False
    last = layers[-1]
    if isinstance(last, FirstTokenLayer):
        return True
    config = getattr(model, "config", None)
    parts = ("attention", "intermediate", "output")
    return (
        all(hasattr(last, part) for part in parts)
        and all(hasattr(last.attention, part) for part in ("self", "output"))
        and all(hasattr(last.attention.self, p) for p in ("query", "key", "value", "scaling"))
        and not getattr(config, "is_decoder", False)
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
    )


def first_token_inference(model: nn.Module) -> bool:
    """Make `model` (in eval mode, for logits only) compute its last layer at the first token.

    Returns whether it was changed. The model then gives the same logits, but its
    `hidden_states`/`last_hidden_state` cover position 0 only: use it for prediction, not for
    attributions or embeddings, and do not train or save it.
    """
    if not reads_first_token_only(model):
        return False
    layers = _encoder_layers(model)
    assert layers is not None
    if not isinstance(layers[-1], FirstTokenLayer):
        layers[-1] = FirstTokenLayer(layers[-1])
    return True
