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

import time
from pathlib import Path
from typing import Any

import numpy as np

from pretune.catalog.fewshot import TransferSettings
from pretune.config import save_config
from pretune.errors import ConfigError
from pretune.process_state import leaves_process_as_found
from pretune.train.run_folder import create_run_dir
from pretune.transfer.data import Corpus, load_corpus
from pretune.transfer.embed import Encoder, cached_embeddings, embed_texts, load_encoder
from pretune.transfer.fewshot import (
    check_shots,
    draw_shots,
    fit_logreg,
    predict_prototypes,
    prototypes,
    tune_body,
)
from pretune.transfer.results import aggregate, scores, write_outputs

__all__ = ["draw_seed", "frozen_embeddings", "run_fewshot"]


def draw_seed(seed: int, draw: int) -> int:
    """The seed of draw `draw` (shared by all methods and the setfit benchmark)."""
    return seed * 1000 + draw


def cache_folder(cfg: Any) -> Path:
    return Path(cfg.cache_dir) if cfg.cache_dir else Path(cfg.output_dir) / ".embeddings"


def frozen_embeddings(
    cfg: Any, encoder: Encoder, corpus: Corpus, rows: np.ndarray, log: Any
) -> np.ndarray:
    """(N, H) frozen embeddings of the corpus with `rows` filled (from the cache when there)
    and NaN elsewhere, so that using a row that was not embedded cannot go unnoticed."""
    rows = np.unique(rows)
    out = np.full((len(corpus.texts), encoder.model.config.hidden_size), np.nan, np.float32)
    out[rows] = cached_embeddings(
        encoder, [corpus.texts[i] for i in rows], cfg.model.max_length, cache_folder(cfg),
        cfg.embed_batch_size, log,
    )  # fmt: skip
    return out


def _episodic_protonet(
    cfg: Any, frozen: np.ndarray, corpus: Corpus, shots: np.ndarray, seed: int,
    run_dir: Path,
) -> np.ndarray:  # fmt: skip
    """Train a projection head with ProtoNet episodes drawn from the shots alone (half of each
    class as support, the rest as query), then classify the test rows by nearest prototype of
    all the shots in the projected space."""
    from pretune.catalog.metalearn import MetalearnConfig
    from pretune.recipes.metalearn import meta_train
    from pretune.transfer.meta import adapt_and_predict

    if cfg.shots < 2:
        raise ConfigError("protonet_episodes needs shots >= 2 (a support and a query per class)")
    k = len(corpus.label_names)
    # What the meta-learning schema shares with few-shot's: the run fields, the transfer
    # settings and the data/model/train/eval/techniques sections.
    keys = {"name", "output_dir", "seed", "data", "model", "train", "eval", "techniques"}
    shared = cfg.model_dump(include=keys | set(TransferSettings.model_fields))
    mcfg = MetalearnConfig.model_validate(
        {**shared, "method": "protonet", "ways": k, "held_out": 2, "shots": cfg.shots // 2,
         "queries": cfg.shots - cfg.shots // 2, "episodes": cfg.protonet_episodes,
         "projection_dim": min(128, frozen.shape[1]), "train": {**shared["train"], "lr": 1e-3,
         "max_grad_norm": None, "warmup_ratio": 0.0, "weight_decay": 0.0}}
    )  # fmt: skip
    model, _ = meta_train(mcfg, frozen, corpus.labels, shots, list(range(k)), run_dir, seed)
    y = corpus.labels[shots]
    return adapt_and_predict(model, "protonet", frozen[shots], y, frozen[corpus.test], k, 1, 0.0)


def _one_draw(
    cfg: Any,
    corpus: Corpus,
    encoder: Encoder,
    frozen: np.ndarray | None,
    draw: int,
    run_dir: Path,
    log: Any,
) -> dict[str, Any]:
    seed = draw_seed(cfg.seed, draw)
    shots = draw_shots(corpus.labels, corpus.pool, cfg.shots, seed)
    y_shot, y_test = corpus.labels[shots], corpus.labels[corpus.test]
    result: dict[str, Any] = {"draw": draw, "seed": seed}
    if frozen is not None and (cfg.baseline or cfg.method == "logreg"):
        head = fit_logreg(frozen[shots], y_shot, cfg.logreg_c, seed)
        result["logreg"] = scores(y_test, head.predict(frozen[corpus.test]))
    if cfg.method == "protonet":
        assert frozen is not None
        if cfg.protonet_episodes:
            pred = _episodic_protonet(
                cfg, frozen, corpus, shots, seed, run_dir / "draws" / str(draw)
            )
        else:
            classes, protos = prototypes(frozen[shots], y_shot)
            pred = predict_prototypes(frozen[corpus.test], classes, protos, cfg.distance)
        result["protonet"] = scores(y_test, pred)
    elif cfg.method == "setfit":
        texts = [corpus.texts[i] for i in shots]
        started = time.perf_counter()
        body, info = tune_body(
            cfg, encoder.model, encoder.tokenizer, texts, y_shot, seed,
            run_dir / "draws" / str(draw), log,
        )  # fmt: skip
        tuned = Encoder(body, encoder.tokenizer, encoder.path)
        test_texts = [corpus.texts[i] for i in corpus.test]
        x_shot = embed_texts(tuned, texts, cfg.model.max_length, cfg.embed_batch_size)
        x_test = embed_texts(tuned, test_texts, cfg.model.max_length, cfg.embed_batch_size)
        head = fit_logreg(x_shot, y_shot, cfg.logreg_c, seed)
        result["setfit"] = scores(y_test, head.predict(x_test))
        result["setfit_training"] = {**info, "seconds": round(time.perf_counter() - started, 1)}
    return result


@leaves_process_as_found()
def run_fewshot(cfg: Any, *, log: Any = print) -> dict[str, Any]:
    """Score `cfg.method` (and the logreg baseline) over `cfg.draws` draws; returns the summary."""
    from pretune.train.setup import set_determinism

    started = time.perf_counter()
    set_determinism(cfg)
    corpus = load_corpus(cfg.data, cfg.seed, cfg.test_fraction)
    check_shots(corpus.class_counts(corpus.pool), cfg.shots)
    encoder = load_encoder(cfg.model.init_from)
    run_dir = create_run_dir(cfg, "fewshot")
    save_config(cfg, run_dir / "config.yaml")
    log(
        f"fewshot {cfg.method}: {cfg.shots} shots x {len(corpus.label_names)} classes, "
        f"{cfg.draws} draws, test {len(corpus.test)} rows, max_length {cfg.model.max_length}"
    )
    needs_frozen = cfg.method != "setfit" or cfg.baseline
    shots = [draw_shots(corpus.labels, corpus.pool, cfg.shots, draw_seed(cfg.seed, d))
             for d in range(cfg.draws)]  # fmt: skip
    needed = np.concatenate([corpus.test, *shots])
    frozen = frozen_embeddings(cfg, encoder, corpus, needed, log) if needs_frozen else None
    per_draw = []
    for draw in range(cfg.draws):
        result = _one_draw(cfg, corpus, encoder, frozen, draw, run_dir, log)
        per_draw.append(result)
        shown = "  ".join(f"{m} {result[m]['accuracy']:.4f}" for m in ("logreg", cfg.method)
                          if m in result)  # fmt: skip
        log(f"draw {draw}: {shown}")
    methods = [m for m in (cfg.method, "logreg") if m in per_draw[0]]
    methods = list(dict.fromkeys(methods))
    results = {m: aggregate([d[m] for d in per_draw]) for m in methods}
    summary = {
        "task": "fewshot",
        "method": cfg.method,
        "shots": cfg.shots,
        "draws": cfg.draws,
        "max_length": cfg.model.max_length,
        "label_names": corpus.label_names,
        "test_rows": len(corpus.test),
        "results": results,
        "per_draw": per_draw,
    }
    rows = [(f"{m} ({cfg.shots} shots)", results[m]) for m in methods]
    notes = [
        "logreg: logistic regression on frozen mean-pooled embeddings, same draws and test rows.",
        f"Draw k uses seed {cfg.seed}*1000+k; mean ± sample std over {cfg.draws} draws.",
    ]
    return write_outputs(run_dir, "fewshot", summary, rows, started, notes)
