"""Attention maps per layer and head, and attention rollout (Abnar & Zuidema, 2020).

Rollout: average the heads of each layer, add the identity (the residual path), renormalise
the rows, and multiply the layers' matrices; row 0 ([CLS]) then says how much each input token
flows into the representation the classifier reads.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["attention_grid", "attentions", "rollout"]


def attentions(
    model: Any, tokenizer: Any, text: str, max_length: int = 128
) -> tuple[list[str], torch.Tensor]:
    """(tokens, attention tensor [layers, heads, seq, seq]) of one text.

    The model must be loaded with `attn_implementation="eager"`: fused attention kernels do not
    return the weights.
    """
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
    with torch.no_grad():
        out = model(**enc, output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise RuntimeError(
            "the model returned no attentions; load it with attn_implementation='eager'"
        )
    stacked = torch.stack([a[0] for a in out.attentions])
    return tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist()), stacked


def rollout(att: torch.Tensor) -> torch.Tensor:
    """Attention rollout [seq, seq] from attentions [layers, heads, seq, seq]."""
    seq = att.shape[-1]
    result = torch.eye(seq)
    for layer in att:
        mixed = layer.mean(0) + torch.eye(seq)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        result = mixed @ result
    return result


def attention_grid(tokens: list[str], att: torch.Tensor, layer: int, max_heads: int = 12) -> str:
    """One layer's heads as small heat maps side by side (an inline PNG data URI)."""
    from pretune.report.plots import figure_png, new_figure

    heads = min(att.shape[1], max_heads)
    cols = min(heads, 4)
    rows = (heads + cols - 1) // cols
    small = len(tokens) <= 24  # token labels only when they can be read
    fig = new_figure(3.0 * cols, 2.9 * rows + 0.3)
    for h in range(heads):
        ax = fig.add_subplot(rows, cols, h + 1)
        ax.imshow(att[layer, h].numpy(), cmap="Blues", vmin=0, vmax=1)
        ax.set_title(f"layer {layer + 1} head {h + 1}", fontsize=8)
        if small:
            ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=5)
            ax.set_yticks(range(len(tokens)), tokens, fontsize=5)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    return figure_png(fig)


def rollout_plot(tokens: list[str], roll: torch.Tensor) -> str:
    """The rollout matrix as a heat map (inline PNG)."""
    from pretune.report.plots import figure_png, new_figure

    fig = new_figure(5.0, 4.6)
    ax = fig.add_subplot()
    ax.imshow(roll.numpy(), cmap="Purples")
    ax.set_title("attention rollout (row: token, column: source)", fontsize=9)
    if len(tokens) <= 40:
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=6)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=6)
    return figure_png(fig)
