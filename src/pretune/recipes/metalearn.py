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

from typing import Any

import numpy as np

from pretune.recipes._runner import recipe
from pretune.report.transfer_page import write_transfer_page
from pretune.train.session import Session
from pretune.transfer.data import load_seeded_corpus
from pretune.transfer.draws import frozen_embeddings, sample_pool
from pretune.transfer.embed import load_encoder
from pretune.transfer.fewshot import check_shots
from pretune.transfer.metalearn import COMPARED, held_out_sets, score_held_out
from pretune.transfer.results import aggregate

__all__ = ["run_metalearn"]


def _notes(cfg: Any, rotations: int) -> list[str]:
    return [
        f"meta: projection head meta-trained with {cfg.method} on the other classes, then "
        "adapted to the held-out ones; untrained_head: the same head and adaptation without "
        "meta-training; logreg / protonet_frozen: on the frozen embeddings.",
        f"Mean ± std over {rotations} held-out sets x {cfg.draws} support draws.",
        "The encoder is frozen (embeddings cached); only the small head is meta-learned.",
    ]


@recipe("metalearn")
def run_metalearn(cfg: Any, session: Session) -> dict[str, Any]:
    """Meta-train per held-out set, adapt to the held-out classes; returns the summary."""
    log = session.log
    corpus = load_seeded_corpus(cfg)
    check_shots(corpus.class_counts(corpus.pool), cfg.shots)
    sets = held_out_sets(len(corpus.label_names), cfg.held_out, cfg.ways, cfg.rotations)
    encoder = load_encoder(cfg.model.init_from)
    run_dir = session.run_dir
    pool = sample_pool(corpus.labels, corpus.pool, cfg.pool_per_class, cfg.seed)
    table = frozen_embeddings(cfg, encoder, corpus, np.concatenate([pool, corpus.test]), log)
    per_draw: list[dict[str, Any]] = []
    rotations = []
    for r, held in enumerate(sets):
        results, losses = score_held_out(
            cfg, corpus, table, pool, held, r, run_dir / "rotations" / str(r)
        )
        per_draw += [{"rotation": r, "draw": d, **draw} for d, draw in enumerate(results)]
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
    write_transfer_page(run_dir, "metalearn", rows, _notes(cfg, len(sets)))
    session.writes_own_report = True
    return summary
