"""Recipe: few-shot classification from `shots` labelled examples per class, over several draws.

    corpus -> stratified pool/test split -> frozen embeddings (cached once)
    -> for each draw: `shots` per class from the pool
         logreg:   logistic regression on the frozen embeddings of the shots (the baseline)
         protonet: nearest class mean (prototype) of the frozen embeddings
         setfit:   contrastive tuning of the body on sampled pairs (the one loop), then a
                   logistic head on the tuned embeddings
    -> accuracy / macro-F1 on the test split per draw, mean ± std -> summary.json, report.html

Draw k uses seed `seed * 1000 + k`, so every method (and the setfit benchmark) scores the same
shots on the same test rows. Callable from Python (`run_fewshot(cfg)`) and the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pretune.catalog.fewshot import TransferSettings
from pretune.catalog.metalearn import MetalearnConfig
from pretune.errors import ConfigError
from pretune.recipes._runner import recipe
from pretune.report.transfer_page import write_transfer_page
from pretune.train.session import Session
from pretune.transfer.data import Corpus, load_seeded_corpus
from pretune.transfer.draws import draw_seed, frozen_embeddings
from pretune.transfer.embed import load_encoder
from pretune.transfer.fewshot import EpisodicProtonet, check_shots, draw_shots, score_draw
from pretune.transfer.meta import adapt_and_predict
from pretune.transfer.metalearn import meta_train
from pretune.transfer.results import aggregate

__all__ = ["run_fewshot"]


def _episodic_protonet(cfg: Any) -> EpisodicProtonet:
    """ProtoNet with a projection head trained on episodes drawn from the shots alone (half of
    each class as support, the rest as query); the test rows are then classified by nearest
    prototype of all the shots in the projected space."""

    def predict(
        frozen: np.ndarray, corpus: Corpus, shots: np.ndarray, seed: int, run_dir: Path
    ) -> np.ndarray:
        if cfg.shots < 2:
            raise ConfigError(
                "protonet_episodes needs shots >= 2 (a support and a query per class)"
            )
        k = len(corpus.label_names)
        # What the meta-learning schema shares with few-shot's: the run fields, the transfer
        # settings and the data/model/train sections (its train: has no batch_size: one
        # episode is one batch).
        keys = {"name", "output_dir", "seed", "data", "model", "train"}
        shared = cfg.model_dump(include=keys | set(TransferSettings.model_fields))
        shared["train"].pop("batch_size")
        mcfg = MetalearnConfig.model_validate(
            {**shared, "method": "protonet", "ways": k, "held_out": 2, "shots": cfg.shots // 2,
             "queries": cfg.shots - cfg.shots // 2, "episodes": cfg.protonet_episodes,
             "projection_dim": min(128, frozen.shape[1]), "train": {**shared["train"],
             "lr": 1e-3, "max_grad_norm": None, "warmup_ratio": 0.0, "weight_decay": 0.0}}
        )  # fmt: skip
        model, _ = meta_train(mcfg, frozen, corpus.labels, shots, list(range(k)), run_dir, seed)
        y, test = corpus.labels[shots], frozen[corpus.test]
        return adapt_and_predict(model, "protonet", frozen[shots], y, test, k, 1, 0.0)

    return predict


def _summary(cfg: Any, corpus: Corpus, per_draw: list[dict[str, Any]]) -> dict:
    methods = list(dict.fromkeys(m for m in (cfg.method, "logreg") if m in per_draw[0]))
    return {
        "task": "fewshot",
        "method": cfg.method,
        "shots": cfg.shots,
        "draws": cfg.draws,
        "max_length": cfg.model.max_length,
        "label_names": corpus.label_names,
        "test_rows": len(corpus.test),
        "results": {m: aggregate([d[m] for d in per_draw]) for m in methods},
        "per_draw": per_draw,
    }


@recipe("fewshot")
def run_fewshot(cfg: Any, session: Session) -> dict[str, Any]:
    """Score `cfg.method` (and the logreg baseline) over `cfg.draws` draws; returns the summary."""
    log = session.log
    corpus = load_seeded_corpus(cfg)
    check_shots(corpus.class_counts(corpus.pool), cfg.shots)
    encoder = load_encoder(cfg.model.init_from)
    run_dir = session.run_dir
    log(
        f"fewshot {cfg.method}: {cfg.shots} shots x {len(corpus.label_names)} classes, "
        f"{cfg.draws} draws, test {len(corpus.test)} rows, max_length {cfg.model.max_length}"
    )
    needs_frozen = cfg.method != "setfit" or cfg.baseline
    shots = [draw_shots(corpus.labels, corpus.pool, cfg.shots, draw_seed(cfg.seed, d))
             for d in range(cfg.draws)]  # fmt: skip
    needed = np.concatenate([corpus.test, *shots])
    frozen = frozen_embeddings(cfg, encoder, corpus, needed, log) if needs_frozen else None
    episodic = (
        _episodic_protonet(cfg) if cfg.method == "protonet" and cfg.protonet_episodes else None
    )
    per_draw = []
    for draw in range(cfg.draws):
        result = score_draw(cfg, corpus, encoder, frozen, draw, run_dir, log, episodic)
        per_draw.append(result)
        shown = "  ".join(f"{m} {result[m]['accuracy']:.4f}" for m in ("logreg", cfg.method)
                          if m in result)  # fmt: skip
        log(f"draw {draw}: {shown}")
    summary = _summary(cfg, corpus, per_draw)
    rows = [(f"{m} ({cfg.shots} shots)", stats) for m, stats in summary["results"].items()]
    notes = [
        "logreg: logistic regression on frozen mean-pooled embeddings, same draws and test rows.",
        f"Draw k uses seed {cfg.seed}*1000+k; mean ± sample std over {cfg.draws} draws.",
    ]
    write_transfer_page(run_dir, "fewshot", rows, notes)
    session.writes_own_report = True
    return summary
