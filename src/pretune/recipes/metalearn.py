"""Recipe: meta-learning over label subsets, then fast adaptation to held-out classes.

    corpus -> pool / test -> frozen embeddings (cached)
    for each held-out class set (rotating through the combinations):
        meta-train a projection head on episodes from the other classes (the one loop)
        for each draw: `shots` support rows per held-out class from the pool, all test rows
        of those classes as queries ->
            meta-learned head (method) | same head untrained | logreg | ProtoNet on frozen
    -> mean ± std over rotations x draws -> summary.json, report.html

Callable from Python (`run_metalearn(cfg)`) and the CLI (`pretune metalearn`).
"""

from __future__ import annotations

import copy
import itertools
import time
from typing import Any

import numpy as np

from pretune.config import save_config
from pretune.errors import ConfigError
from pretune.process_state import leaves_process_as_found
from pretune.recipes.fewshot import draw_seed, frozen_embeddings
from pretune.train.run_folder import create_run_dir
from pretune.transfer.data import load_corpus
from pretune.transfer.embed import load_encoder, torch_threads
from pretune.transfer.fewshot import (
    LossCurve,
    check_shots,
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
from pretune.transfer.results import aggregate, scores, write_outputs

__all__ = ["held_out_sets", "meta_train", "run_metalearn"]

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
    classes: list[int], run_dir: Any, seed: int,
) -> tuple[ProjectionHead, dict[str, float]]:  # fmt: skip
    """Train a ProjectionHead on `cfg.episodes` episodes through `fit`; returns it and the
    loss at the start and end (mean of the first / last fifth of the episodes)."""
    from accelerate.utils import set_seed

    from pretune.train.callbacks import MetricsLog
    from pretune.train.distributed import make_accelerator
    from pretune.train.loop import fit
    from pretune.train.setup import build_training

    set_seed(seed)
    model = ProjectionHead(table, cfg.projection_dim, seed)
    task: Any
    if cfg.method == "protonet":
        task = ProtoNetTask(model, cfg.ways, cfg.shots)
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


def _sample_pool(
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


@leaves_process_as_found()
def run_metalearn(cfg: Any, *, log: Any = print) -> dict[str, Any]:
    """Meta-train per held-out set, adapt to the held-out classes; returns the summary."""
    from pretune.train.setup import set_determinism

    started = time.perf_counter()
    set_determinism(cfg)
    corpus = load_corpus(cfg.data, cfg.seed, cfg.test_fraction)
    check_shots(corpus.class_counts(corpus.pool), cfg.shots)
    sets = held_out_sets(len(corpus.label_names), cfg.held_out, cfg.ways, cfg.rotations)
    encoder = load_encoder(cfg.model.init_from)
    run_dir = create_run_dir(cfg, "metalearn")
    save_config(cfg, run_dir / "config.yaml")
    labels = corpus.labels
    pool = _sample_pool(labels, corpus.pool, cfg.pool_per_class, cfg.seed)
    table = frozen_embeddings(cfg, encoder, corpus, np.concatenate([pool, corpus.test]), log)
    per_draw: list[dict[str, Any]] = []
    rotations = []
    for r, held in enumerate(sets):
        train_classes = [c for c in range(len(corpus.label_names)) if c not in held]
        initial = ProjectionHead(table, cfg.projection_dim, cfg.seed + r)
        model, losses = meta_train(cfg, table, labels, pool, train_classes,
                                   run_dir / "rotations" / str(r), cfg.seed + r)  # fmt: skip
        held_pool = pool[np.isin(labels[pool], held)]
        query = corpus.test[np.isin(labels[corpus.test], held)]
        local = {c: k for k, c in enumerate(held)}
        y_query = np.array([local[int(c)] for c in labels[query]])
        results = []
        for d in range(cfg.draws):
            support = draw_shots(labels, held_pool, cfg.shots, draw_seed(cfg.seed, d) + 7919 * r)
            y_support = np.array([local[int(c)] for c in labels[support]])
            xs, xq = table[support], table[query]
            predictions = {
                "meta": adapt_and_predict(model, cfg.method, xs, y_support, xq, len(held),
                                          cfg.inner_steps, cfg.inner_lr),
                "untrained_head": adapt_and_predict(copy.deepcopy(initial), cfg.method, xs,
                                                    y_support, xq, len(held), cfg.inner_steps,
                                                    cfg.inner_lr),
                "logreg": fit_logreg(xs, y_support, 1.0, d).predict(xq),
                "protonet_frozen": predict_prototypes(xq, *prototypes(xs, y_support)),
            }  # fmt: skip
            draw = {name: scores(y_query, p) for name, p in predictions.items()}
            results.append(draw)
            per_draw.append({"rotation": r, "draw": d, **draw})
        names = [corpus.label_names[c] for c in held]
        summary_r = {m: aggregate([x[m] for x in results]) for m in COMPARED}
        rotations.append({"held_out": names, "meta_training_loss": losses, "results": summary_r})
        log(f"held out {'+'.join(names)}: meta loss {losses['first_loss']:.3f} -> "
            f"{losses['last_loss']:.3f}; " + "  ".join(
                f"{m} {summary_r[m]['accuracy']['mean']:.4f}" for m in COMPARED))  # fmt: skip
    results = {m: aggregate([d[m] for d in per_draw]) for m in COMPARED}
    summary = {
        "task": "metalearn",
        "method": cfg.method,
        "ways_test": cfg.held_out,
        "shots": cfg.shots,
        "max_length": cfg.model.max_length,
        "results": results,
        "rotations": rotations,
        "per_draw": per_draw,
    }
    rows = [(f"{m} ({cfg.held_out}-way {cfg.shots}-shot)", results[m]) for m in COMPARED]
    notes = [
        f"meta: projection head meta-trained with {cfg.method} on the other classes, then "
        "adapted to the held-out ones; untrained_head: the same head and adaptation without "
        "meta-training; logreg / protonet_frozen: on the frozen embeddings.",
        f"Mean ± std over {len(sets)} held-out sets x {cfg.draws} support draws.",
        "The encoder is frozen (embeddings cached); only the small head is meta-learned.",
    ]
    return write_outputs(run_dir, "metalearn", summary, rows, started, notes)
