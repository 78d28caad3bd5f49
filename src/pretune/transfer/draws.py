"""What the transfer recipes share: the seed of each draw, the frozen-embedding table (cached on
disk) and a per-class sample of the pool, so only the rows a recipe uses get embedded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from pretune.transfer.data import Corpus
from pretune.transfer.embed import Encoder, cached_embeddings

__all__ = [
    "CACHE_ENV",
    "cache_folder",
    "cache_root",
    "draw_seed",
    "frozen_embeddings",
    "sample_pool",
]


def draw_seed(seed: int, draw: int) -> int:
    """The seed of draw `draw` (shared by all methods and the setfit benchmark)."""
    return seed * 1000 + draw


# The one cache folder of pretune (docs/transfer.md): $PRETUNE_CACHE, else `cache/` in the runs
# root. Visible, not hidden, so that it is found and can be deleted (it is only a cache).
CACHE_ENV = "PRETUNE_CACHE"


def cache_root(output_dir: str | Path) -> Path:
    """pretune's cache folder: `$PRETUNE_CACHE` when set, else `<output_dir>/cache`."""
    return Path(os.environ.get(CACHE_ENV) or Path(output_dir) / "cache")


def cache_folder(cfg: Any) -> Path:
    """Where a transfer config keeps its embedding cache: `cache_dir` when given, else
    `<cache root>/embeddings` (`cache_root`)."""
    return Path(cfg.cache_dir) if cfg.cache_dir else cache_root(cfg.output_dir) / "embeddings"


def frozen_embeddings(
    cfg: Any, encoder: Encoder, corpus: Corpus, rows: np.ndarray, log: Any
) -> np.ndarray:
    """(N, H) frozen embeddings of the corpus with `rows` filled (from the cache when there)
    and NaN elsewhere, so that using a row that was not embedded cannot go unnoticed.

    `cfg` is a transfer config: `model.max_length`, `embed_batch_size`, `cache_dir`,
    `output_dir` (typed loosely: the configs belong to the recipe layer above).
    """
    rows = np.unique(rows)
    out = np.full((len(corpus.texts), encoder.model.config.hidden_size), np.nan, np.float32)
    out[rows] = cached_embeddings(
        encoder, [corpus.texts[i] for i in rows], cfg.model.max_length, cache_folder(cfg),
        cfg.embed_batch_size, log,
    )  # fmt: skip
    return out


def sample_pool(
    labels: np.ndarray, pool: np.ndarray, per_class: int | None, seed: int
) -> np.ndarray:
    """At most `per_class` pool rows of each class (seeded), so only those get embedded."""
    if per_class is None:
        return pool
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels[pool]):
        rows = pool[labels[pool] == c]
        keep.append(rng.choice(rows, size=min(per_class, len(rows)), replace=False))
    return np.sort(np.concatenate(keep))
