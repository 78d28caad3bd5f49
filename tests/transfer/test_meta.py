"""Meta-learning pieces on synthetic embeddings: the episode sampler and episode training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import cosine_similarity, euclidean_distances

from pretune.errors import ConfigError
from pretune.transfer.meta import (
    COSINE_SCALE,
    EpisodeBatches,
    ProjectionHead,
    ProtoNetTask,
    adapt_and_predict,
    episode_labels,
    sample_episode,
)


def _clusters(classes: int = 5, per_class: int = 40, dim: int = 16, seed: int = 0):
    """Noisy points around one random centre per class (unit-normalised, like embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    labels = np.repeat(np.arange(classes), per_class)
    x = centres[labels] + 1.2 * rng.normal(size=(len(labels), dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def test_episode_is_n_way_k_shot_with_disjoint_support_and_query() -> None:
    _, labels = _clusters()
    rows = np.arange(len(labels))
    rng = np.random.default_rng(0)
    for _ in range(20):
        episode = sample_episode(labels, rows, [0, 2, 3], ways=2, shots=3, queries=4, rng=rng)
        support, query = episode[:6], episode[6:]
        assert len(query) == 8 and not set(support) & set(query)  # no overlap
        classes = {int(labels[r]) for r in episode}
        assert len(classes) == 2 and classes <= {0, 2, 3}  # N classes, only allowed ones
        for c in classes:  # K shots and Q queries of each
            assert sum(labels[r] == c for r in support) == 3
            assert sum(labels[r] == c for r in query) == 4
        local = episode_labels(labels, episode, ways=2, shots=3)
        assert local[:6].tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(ConfigError, match="ways=4"):
        sample_episode(labels, rows, [0, 1, 2], ways=4, shots=1, queries=1, rng=rng)
    with pytest.raises(ConfigError, match="fewer than shots"):
        sample_episode(labels, rows, [0, 1], ways=2, shots=30, queries=30, rng=rng)


def test_episode_batches_are_a_function_of_seed_and_epoch() -> None:
    _, labels = _clusters()
    data = EpisodeBatches(labels, np.arange(len(labels)), [0, 1, 2], 2, 2, 3, episodes=5, seed=1)
    assert data.epoch_batches(0) == data.epoch_batches(0) != data.epoch_batches(1)
    batch = data.load(data.epoch_batches(0)[0])
    assert batch["input_ids"].shape == (10,) and batch["labels"].tolist()[:4] == [0, 0, 1, 1]


@pytest.mark.parametrize("method", ["protonet", "fomaml", "reptile"])
def test_meta_training_runs_through_the_loop(method: str, tmp_path: Path) -> None:
    from pretune.catalog import recipe as catalog_recipe
    from pretune.catalog.metalearn import MetalearnConfig
    from pretune.config import load_config
    from pretune.transfer.meta import adapt_and_predict
    from pretune.transfer.metalearn import meta_train

    table, labels = _clusters(dim=16)
    cfg = load_config(
        None,
        [f"method={method}", "episodes=150", "projection_dim=8", "shots=2", "queries=5",
         "train.lr=0.01", "train.log_every=10", "train.num_threads=1"],
        defaults=catalog_recipe("metalearn").defaults(), schema=MetalearnConfig,
    )  # fmt: skip
    rows = np.arange(len(labels))
    model, losses = meta_train(cfg, table, labels, rows, [0, 1, 2], tmp_path, seed=0)
    assert (tmp_path / "metrics.jsonl").is_file()
    if method != "reptile":  # reptile's loss is a distance between weights, not a task loss
        assert losses["last_loss"] < losses["first_loss"]
    initial = ProjectionHead(table, 8, 0)
    assert not np.allclose(model.proj.weight.detach(), initial.proj.weight.detach())
    # Held-out classes 3 and 4: adaptation from 2 shots beats chance clearly.
    held = rows[labels >= 3]
    support = np.concatenate([held[labels[held] == 3][:2], held[labels[held] == 4][:2]])
    query = np.setdiff1d(held, support)
    pred = adapt_and_predict(model, method, table[support], np.array([0, 0, 1, 1]),
                             table[query], 2, cfg.inner_steps, cfg.inner_lr)  # fmt: skip
    assert ((labels[query] - 3) == pred).mean() > 0.65


def _two_prototypes_and_a_query() -> tuple[ProjectionHead, np.ndarray]:
    """Class 0 at (1, 0), class 1 at (10, 10), the query at (5, 5): nearer class 0 (distance
    6.4 against 7.1) but pointing the way of class 1 (cosine 0.71 against 1)."""
    table = np.array([[1, 0], [1, 0], [10, 10], [10, 10], [5, 5]], dtype=np.float32)
    model = ProjectionHead(table, dim=2, seed=0)
    with torch.no_grad():
        model.proj.weight.copy_(torch.eye(2))  # the identity: distances of the table itself
    return model, table


@pytest.mark.parametrize(("distance", "nearest"), [("euclidean", 0), ("cosine", 1)])
def test_protonet_uses_the_distance_it_is_given(distance: str, nearest: int) -> None:
    model, table = _two_prototypes_and_a_query()
    pred = adapt_and_predict(model, "protonet", table[:4], np.array([0, 0, 1, 1]), table[4:],
                             2, 1, 0.0, distance)  # fmt: skip
    assert pred.tolist() == [nearest]
    task = ProtoNetTask(model, ways=2, shots=2, distance=distance)
    batch = {"input_ids": torch.arange(5), "labels": torch.tensor([0, 0, 1, 1, 1])}
    logits = task(batch)["logits"].detach().numpy()
    protos = table[[0, 2]]
    expected = (
        COSINE_SCALE * cosine_similarity(table[4:], protos)
        if distance == "cosine"
        else -euclidean_distances(table[4:], protos, squared=True)
    )
    np.testing.assert_allclose(logits, expected, rtol=1e-5)
    with pytest.raises(ConfigError, match="distance='manhattan'"):
        ProtoNetTask(model, ways=2, shots=2, distance="manhattan")(batch)
