"""A toy text classifier with the Hugging Face interface the techniques rely on
(`get_input_embeddings`, `inputs_embeds`, `.logits`): fast enough for exact unit tests."""

from __future__ import annotations

import torch


class _Out:
    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class TinyClassifier(torch.nn.Module):
    """Embedding -> masked mean -> dropout -> linear head."""

    def __init__(self, dropout: float = 0.0, vocab: int = 20, width: int = 6, labels: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, width)
        self.drop = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(width, labels)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.emb

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None):
        x = self.emb(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, H)
        if attention_mask is None:
            pooled = x.mean(1)
        else:
            m = attention_mask[..., None].to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp_min(1)
        return _Out(self.classifier(self.drop(pooled)))
