"""The labelled corpus of a transfer run: all cleaned texts, their labels, a pool and a test split.

Every text is embedded once (frozen cache); the split is a set of indices into the corpus, so
few-shot, zero-shot and meta-learning share one cache whatever split or draw they use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pretune.config import DataConfig
from pretune.errors import DataError

__all__ = ["Corpus", "load_corpus"]


@dataclass
class Corpus:
    """Texts, integer labels (ids into `label_names`), and the pool / test row indices."""

    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    pool: np.ndarray  # labelled examples are drawn from here (few-shot) or ignored (zero-shot)
    test: np.ndarray  # every method is scored on these rows

    def class_counts(self, rows: np.ndarray) -> dict[str, int]:
        counts = np.bincount(self.labels[rows], minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts, strict=True)}


def load_corpus(cfg: DataConfig, seed: int, test_fraction: float) -> Corpus:
    """Load and clean `cfg.source`, then a stratified pool/test split (seeded)."""
    from sklearn.model_selection import train_test_split

    from pretune.data.text_classification import load_clean

    dataset, _ = load_clean(cfg, cfg.source)
    if "label" not in dataset.column_names:
        raise DataError(f"data.source={cfg.source} has no label column '{cfg.label_column}'")
    texts = list(dataset["text"][:])
    raw = [str(x) for x in dataset["label"][:]]
    label_names = sorted(set(raw))
    if len(label_names) < 2:
        raise DataError(f"data.source={cfg.source}: only one label; classification needs two")
    labels = np.array([label_names.index(x) for x in raw], dtype=np.int64)
    rows = np.arange(len(texts))
    pool, test = train_test_split(rows, test_size=test_fraction, random_state=seed, stratify=labels)
    return Corpus(texts, labels, label_names, np.sort(pool), np.sort(test))


def load_seeded_corpus(cfg: Any) -> Corpus:
    """Seed everything (the run is reproducible), then load the corpus of a transfer config
    (`data`, `seed`, `test_fraction`) with its pool/test split."""
    from pretune.train.setup import set_determinism

    set_determinism(cfg)
    return load_corpus(cfg.data, cfg.seed, cfg.test_fraction)
