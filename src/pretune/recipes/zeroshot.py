"""Recipe: zero-shot classification, step by step, each step scored on the same test rows.

    corpus -> pool (unlabelled) / test -> frozen embeddings (cached)
    embedding: 1 bare label names  2 + templates (+ label_text)  3 + descriptions
               4 + self-training on the pool (pseudo-labels -> logistic head, iterated)
    cloze:     "<text> This article is about [MASK]." scored by a masked LM's head

Callable from Python (`run_zeroshot(cfg)`) and the CLI (`pretune zeroshot`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pretune.errors import ConfigError, DataError
from pretune.recipes._runner import recipe
from pretune.report.transfer_page import write_transfer_page
from pretune.train.session import Session
from pretune.transfer.data import Corpus, load_seeded_corpus
from pretune.transfer.draws import frozen_embeddings
from pretune.transfer.embed import load_encoder
from pretune.transfer.fewshot import fit_logreg
from pretune.transfer.results import scores
from pretune.transfer.zeroshot import (
    cloze_scores,
    has_trained_mlm_head,
    label_embeddings,
    label_prompts,
    self_train,
)

__all__ = ["run_zeroshot"]


def _select_labels(cfg: Any, corpus: Corpus) -> tuple[list[str], np.ndarray]:
    """The labels to classify into, and their ids in the corpus (DataError if one is absent)."""
    labels = cfg.labels or corpus.label_names
    missing = [x for x in labels if x not in corpus.label_names]
    if missing:
        raise DataError(
            f"label(s) {', '.join(missing)} have no examples in data.source={cfg.data.source} "
            f"(its labels: {', '.join(corpus.label_names)}); zero-shot is scored on the data, "
            "so labels must name its classes (use label_text to change the words in prompts)"
        )
    unknown = [k for k in (*cfg.label_text, *cfg.descriptions) if k not in labels]
    if unknown:
        raise ConfigError(f"label_text/descriptions name unknown label(s): {', '.join(unknown)}")
    return list(labels), np.array([corpus.label_names.index(x) for x in labels])


def _embedding_steps(
    cfg: Any, corpus: Corpus, labels: list[str], ids: np.ndarray, log: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    encoder = load_encoder(cfg.model.init_from)
    keep = np.isin(corpus.labels, ids)
    test, pool = corpus.test[keep[corpus.test]], corpus.pool[keep[corpus.pool]]
    if cfg.unlabelled_max and cfg.self_train_rounds and len(pool) > cfg.unlabelled_max:
        rng = np.random.default_rng(cfg.seed)
        pool = np.sort(rng.choice(pool, size=cfg.unlabelled_max, replace=False))
    needed = np.concatenate([test, pool]) if cfg.self_train_rounds else test
    frozen = frozen_embeddings(cfg, encoder, corpus, needed, log)
    remap = {int(c): k for k, c in enumerate(ids)}
    y_test = np.array([remap[int(c)] for c in corpus.labels[test]])
    ml = cfg.model.max_length
    steps: list[tuple[str, list[list[str]]]] = [("names", label_prompts(labels))]
    steps.append(("+ template", label_prompts(labels, cfg.templates, None, cfg.label_text)))
    if cfg.descriptions:
        steps.append(
            (
                "+ descriptions",
                label_prompts(labels, cfg.templates, cfg.descriptions, cfg.label_text),
            )
        )
    results: dict[str, Any] = {}
    for name, prompts in steps:
        label_emb = label_embeddings(encoder, prompts, ml)
        results[name] = scores(y_test, (frozen[test] @ label_emb.T).argmax(1))
        log(f"{name:<18} accuracy {results[name]['accuracy']:.4f}")
    extra: dict[str, Any] = {"prompts": {n: dict(zip(labels, p, strict=True)) for n, p in steps}}
    if cfg.self_train_rounds:
        pool_scores = frozen[pool] @ label_emb.T
        head, history = self_train(
            frozen[pool], pool_scores, cfg.self_train_rounds, cfg.keep_fraction,
            lambda x, y: fit_logreg(x, y, cfg.logreg_c, cfg.seed),
        )  # fmt: skip
        if head is not None:
            name = f"+ self-training ({len(history)} rounds)"
            results[name] = scores(y_test, head.predict(frozen[test]))
            log(f"{name:<18} accuracy {results[name]['accuracy']:.4f}")
        extra["self_training"] = {"unlabelled_rows": len(pool), "rounds": history}
    return results, extra


def _cloze_step(
    cfg: Any, corpus: Corpus, labels: list[str], ids: np.ndarray, log: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    from transformers import AutoModelForMaskedLM

    from pretune.models.load import load_tokenizer, resolve_model_path

    path = resolve_model_path(cfg.model.init_from)
    if not has_trained_mlm_head(path):
        raise ConfigError(
            f"model.init_from={cfg.model.init_from} has no trained MLM head (e.g. a "
            "sentence-embedding checkpoint such as minilm): its [MASK] predictions would be "
            "random. Use method=embedding, or a masked LM (pre-trained with an MLM head)"
        )
    model = AutoModelForMaskedLM.from_pretrained(str(path))
    tokenizer = load_tokenizer(path)
    test = corpus.test[np.isin(corpus.labels[corpus.test], ids)]
    remap = {int(c): k for k, c in enumerate(ids)}
    y_test = np.array([remap[int(c)] for c in corpus.labels[test]])
    words = [cfg.label_text.get(x, x) for x in labels]
    s = cloze_scores(model, tokenizer, [corpus.texts[i] for i in test], words,
                     cfg.cloze_template, cfg.model.max_length)  # fmt: skip
    result = {"cloze": scores(y_test, s.argmax(1))}
    log(f"cloze accuracy {result['cloze']['accuracy']:.4f}")
    return result, {"cloze_template": cfg.cloze_template, "label_words": words}


@recipe("zeroshot")
def run_zeroshot(cfg: Any, session: Session) -> dict[str, Any]:
    """Score each zero-shot step on the test split; returns the summary."""
    log = session.log
    corpus = load_seeded_corpus(cfg)
    labels, ids = _select_labels(cfg, corpus)
    run_dir = session.run_dir
    step = _embedding_steps if cfg.method == "embedding" else _cloze_step
    results, extra = step(cfg, corpus, labels, ids, log)
    summary = {
        "task": "zeroshot",
        "method": cfg.method,
        "labels": labels,
        "max_length": cfg.model.max_length,
        "test_rows": int(np.isin(corpus.labels[corpus.test], ids).sum()),
        "results": results,
        **extra,
    }
    rows = [(name, r) for name, r in results.items()]
    notes = [
        "Each step adds to the previous one; all are scored on the same test rows.",
        "Self-training uses the pool texts without their labels.",
    ]
    write_transfer_page(run_dir, "zeroshot", rows, notes)
    session.writes_own_report = True
    return summary
