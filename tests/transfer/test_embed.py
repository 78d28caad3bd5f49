"""Frozen-embedding cache: per text, so subsets and reorderings reuse what was computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pretune.transfer.embed import cached_embeddings, embed_texts, load_encoder, mean_pool


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


def test_cache_computes_each_text_once(tiny_bert: Path, tmp_path: Path) -> None:
    encoder = load_encoder(str(tiny_bert))
    texts = ["goal team match", "bank shares", "chip phone data"]
    messages: list[str] = []
    first = cached_embeddings(encoder, texts, 16, tmp_path, log=messages.append)
    assert "embeddings: 0 from cache, 3 computed" in messages[-1]  # an empty cache says so
    assert np.allclose(first, embed_texts(encoder, texts, 16), atol=1e-5)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    again = cached_embeddings(encoder, [texts[2], "new text here", texts[0]], 16, tmp_path,
                              log=messages.append)  # fmt: skip
    assert "embeddings: 2 from cache, 1 computed" in messages[-1]  # only the new text
    assert np.allclose(again[0], first[2]) and np.allclose(again[2], first[0])
    cached_embeddings(encoder, texts, 8, tmp_path, log=messages.append)  # another length
    assert "embeddings: 0 from cache, 3 computed" in messages[-1]
