"""Meta-learning over label subsets: which class sets to hold out, meta-training a projection
head on episodes of the other classes (the one loop), and scoring fast adaptation to the
held-out classes against the baselines."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from pretune.errors import ConfigError
from pretune.transfer.data import Corpus
from pretune.transfer.draws import draw_seed
from pretune.transfer.embed import torch_threads
from pretune.transfer.fewshot import (
    LossCurve,
    draw_shots,
    fit_logreg,
    predict_prototypes,
    prototypes,
)
from pretune.transfer.meta import (
    EpisodeBatches,
    FirstOrderTask,
    ProjectionHead,
    ProtoNetTask,
    adapt_and_predict,
)
from pretune.transfer.results import scores

__all__ = ["COMPARED", "held_out_sets", "meta_train", "score_held_out"]

# What each held-out set is scored with: the meta-learned head and three baselines.
COMPARED = ("meta", "untrained_head", "logreg", "protonet_frozen")


def held_out_sets(
    num_classes: int, held_out: int, ways: int, rotations: int
) -> list[tuple[int, ...]]:
    """The held-out class sets to rotate through (all combinations, or the first `rotations`)."""
    if num_classes - held_out < ways:
        raise ConfigError(
            f"held_out={held_out} leaves {num_classes - held_out} of {num_classes} classes for "
            f"meta-training, fewer than ways={ways}; lower held_out or ways"
        )
    sets = list(itertools.combinations(range(num_classes), held_out))
    return sets[:rotations] if rotations else sets


def meta_train(
    cfg: Any, table: np.ndarray, labels: np.ndarray, rows: np.ndarray,
    classes: list[int], run_dir: Any, seed: int, distance: str = "euclidean",
) -> tuple[ProjectionHead, dict[str, float]]:  # fmt: skip
    """Train a ProjectionHead on `cfg.episodes` episodes through `fit`; returns it and the
    loss at the start and end (mean of the first / last fifth of the episodes).

    `cfg` is a meta-learning config (method, ways, shots, queries, episodes, projection_dim,
    inner_steps, inner_lr, train): typed loosely, the configs belong to the recipe layer.
    `distance` is ProtoNet's (euclidean or cosine, see `meta.ProtoNetTask`).
    """
    from accelerate.utils import set_seed

    from pretune.train.callbacks import MetricsLog
    from pretune.train.distributed import make_accelerator
    from pretune.train.loop import fit
    from pretune.train.setup import build_training

    set_seed(seed)
    model = ProjectionHead(table, cfg.projection_dim, seed)
    task: Any
    if cfg.method == "protonet":
        task = ProtoNetTask(model, cfg.ways, cfg.shots, distance)
    else:
        task = FirstOrderTask(model, cfg.ways, cfg.shots, cfg.method, cfg.inner_steps, cfg.inner_lr)
    data = EpisodeBatches(
        labels, rows, classes, cfg.ways, cfg.shots, cfg.queries, cfg.episodes, seed
    )
    training = build_training(cfg, model, cfg.episodes, [])
    accelerator = make_accelerator(cfg)
    curve = LossCurve()
    run_dir.mkdir(parents=True, exist_ok=True)
    handlers = [MetricsLog(run_dir / "metrics.jsonl", cfg.train.log_every), curve]
    with torch_threads(cfg.train.num_threads):
        fit(training.state, task, data, training.plan, accelerator, handlers, None)
    return model, curve.ends()


def _predict_all(
    cfg: Any, model: Any, initial: Any, xs: np.ndarray, y_support: np.ndarray, xq: np.ndarray,
    ways: int, draw: int,
) -> dict[str, np.ndarray]:  # fmt: skip
    """The query predictions of the meta-learned head and of each baseline."""
    return {
        "meta": adapt_and_predict(model, cfg.method, xs, y_support, xq, ways,
                                  cfg.inner_steps, cfg.inner_lr),
        "untrained_head": adapt_and_predict(copy.deepcopy(initial), cfg.method, xs, y_support,
                                            xq, ways, cfg.inner_steps, cfg.inner_lr),
        "logreg": fit_logreg(xs, y_support, 1.0, draw).predict(xq),
        "protonet_frozen": predict_prototypes(xq, *prototypes(xs, y_support)),
    }  # fmt: skip


def score_held_out(
    cfg: Any, corpus: Corpus, table: np.ndarray, pool: np.ndarray, held: tuple[int, ...],
    rotation: int, run_dir: Path,
) -> tuple[list[dict[str, Any]], dict[str, float]]:  # fmt: skip
    """Meta-train on the classes not in `held`, then per draw adapt to `cfg.shots` support rows
    per held-out class and score every method on all test rows of those classes.

    Returns:
        (one {method: scores} per draw, the meta-training loss at start and end).
    """
    seed, labels, test = cfg.seed + rotation, corpus.labels, corpus.test
    train_classes = [c for c in range(len(corpus.label_names)) if c not in held]
    initial = ProjectionHead(table, cfg.projection_dim, seed)
    model, losses = meta_train(cfg, table, labels, pool, train_classes, run_dir, seed)
    held_pool = pool[np.isin(labels[pool], held)]
    query = test[np.isin(labels[test], held)]
    local = {c: k for k, c in enumerate(held)}
    y_query = np.array([local[int(c)] for c in labels[query]])
    results = []
    for d in range(cfg.draws):
        # A prime offset per rotation: different held-out sets never share support seeds.
        support = draw_shots(labels, held_pool, cfg.shots, draw_seed(cfg.seed, d) + 7919 * rotation)
        y_support = np.array([local[int(c)] for c in labels[support]])
        predictions = _predict_all(
            cfg, model, initial, table[support], y_support, table[query], len(held), d
        )
        results.append({name: scores(y_query, p) for name, p in predictions.items()})
    return results, losses
