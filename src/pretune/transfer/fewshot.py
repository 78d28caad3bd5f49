"""Few-shot building blocks: drawing the shots, a logistic head, prototypes, and the
contrastive (SetFit-style) tuning of a sentence-embedding body through the one loop.

The head and the prototypes are plain functions (closed-form or sklearn fits on fixed
embeddings); only the body tuning is gradient training, and it runs as a task of `fit`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pretune.errors import ConfigError, DataError
from pretune.transfer.data import Corpus
from pretune.transfer.draws import draw_seed
from pretune.transfer.embed import Encoder, embed_texts, torch_threads
from pretune.transfer.pairs import sample_pairs
from pretune.transfer.results import scores

__all__ = [
    "LossCurve",
    "PairBatches",
    "draw_shots",
    "fit_logreg",
    "predict_prototypes",
    "prototypes",
    "score_draw",
    "tune_body",
]

# (frozen table, corpus, shot rows, seed, run_dir) -> test predictions: ProtoNet trained on
# episodes of the shots (the recipe builds its meta-learning config, see recipes/fewshot.py).
EpisodicProtonet = Callable[[np.ndarray, Corpus, np.ndarray, int, Path], np.ndarray]


def draw_shots(labels: np.ndarray, pool: np.ndarray, shots: int, seed: int) -> np.ndarray:
    """`shots` rows of every class, drawn without replacement from `pool` (sorted indices).

    Raises a ConfigError naming `shots` when a class has fewer rows than that.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels[pool]):
        rows = pool[labels[pool] == c]
        if len(rows) < shots:
            raise ConfigError(
                f"shots={shots} is more than class {c} has in the pool ({len(rows)} rows); "
                f"use shots={len(rows)} or fewer"
            )
        chosen.append(rng.choice(rows, size=shots, replace=False))
    return np.sort(np.concatenate(chosen))


def check_shots(counts: dict[str, int], shots: int, field: str = "shots") -> None:
    """ConfigError when any class has fewer than `shots` examples (names the smallest)."""
    empty = [name for name, n in counts.items() if n == 0]
    if empty:
        raise DataError(f"label(s) {', '.join(empty)} have no examples to draw shots from")
    name, smallest = min(counts.items(), key=lambda kv: kv[1])
    if shots > smallest:
        raise ConfigError(
            f"{field}={shots} is larger than the smallest class ('{name}' has {smallest} "
            f"examples available); use {field}={smallest} or fewer"
        )


def fit_logreg(x: np.ndarray, y: np.ndarray, c: float = 1.0, seed: int = 0) -> Any:
    """A multinomial logistic regression on fixed embeddings (the light head)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y)


def prototypes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(classes, class means): one prototype per class, the mean of its embeddings."""
    classes = np.unique(y)
    return classes, np.stack([x[y == c].mean(0) for c in classes])


def predict_prototypes(
    x: np.ndarray, classes: np.ndarray, protos: np.ndarray, distance: str = "cosine"
) -> np.ndarray:
    """The class of the nearest prototype (highest cosine, or smallest euclidean distance)."""
    if distance == "cosine":
        a = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
        b = protos / np.linalg.norm(protos, axis=1, keepdims=True).clip(1e-12)
        return classes[np.argmax(a @ b.T, axis=1)]
    if distance == "euclidean":
        d = ((x[:, None, :] - protos[None, :, :]) ** 2).sum(-1)
        return classes[np.argmin(d, axis=1)]
    raise ConfigError(f"distance={distance!r} is unknown; use cosine or euclidean")


class PairBatches:
    """The loop's view of the pairs: batches of pair indices; `load` stacks both sides.

    The texts are tokenised once; a pair is two indices into them, so memory is
    O(texts + pairs), never O(texts²).
    """

    def __init__(
        self, token_ids: Sequence[list[int]], pairs: np.ndarray, batch_size: int, seed: int,
        pad_id: int,
    ) -> None:  # fmt: skip
        self.token_ids = token_ids
        self.pairs = pairs
        self.batch_size = batch_size
        self.seed = seed
        self.pad_id = pad_id

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))
        return [
            order[i : i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)
        ]

    def load(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = self.pairs[np.asarray(indices)]
        seqs = [self.token_ids[int(i)] for i in rows[:, 0]] + [
            self.token_ids[int(j)] for j in rows[:, 1]
        ]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for k, s in enumerate(seqs):
            ids[k, : len(s)] = torch.tensor(s)
            mask[k, : len(s)] = 1
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "labels": torch.tensor(rows[:, 2], dtype=torch.float),
        }


class LossCurve:
    """A loop handler keeping every step's loss, for the start/end summary of a short run
    (MetricsLog keeps the same numbers on disk every `log_every` steps)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def after_step(self, state: Any) -> None:
        self.losses.append(state.last_loss)

    def ends(self) -> dict[str, float]:
        """Mean loss of the first and the last fifth of the steps (less noisy than one step)."""
        k = max(1, len(self.losses) // 5)
        return {
            "first_loss": round(float(np.mean(self.losses[:k])), 4),
            "last_loss": round(float(np.mean(self.losses[-k:])), 4),
        }


def tune_body(
    cfg: Any,
    base_model: torch.nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    labels: np.ndarray,
    seed: int,
    run_dir: Path,
    log: Any = print,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Contrastively tune a copy of `base_model` on pairs of `texts` (SetFit's first stage).

    `cfg` is a FewshotConfig (train.*, pairs_per_example, contrastive_loss, model.max_length).
    Returns the tuned encoder and {pairs, steps, first_loss, last_loss}.
    """
    from accelerate.utils import set_seed

    from pretune.train.callbacks import MetricsLog
    from pretune.train.distributed import make_accelerator
    from pretune.train.loop import fit
    from pretune.train.setup import (
        apply_techniques,
        bind_task_model,
        build_training,
        export_model,
    )
    from pretune.transfer.contrastive import ContrastiveTask

    set_seed(seed)
    pairs = sample_pairs(labels, cfg.pairs_per_example, seed)
    token_ids = tokenizer(list(texts), truncation=True, max_length=cfg.model.max_length)[
        "input_ids"
    ]
    data = PairBatches(token_ids, pairs, cfg.train.batch_size, seed, tokenizer.pad_token_id or 0)
    techniques, model, task = apply_techniques(
        cfg, copy.deepcopy(base_model), lambda m: ContrastiveTask(m, loss=cfg.contrastive_loss)
    )

    training = build_training(cfg, model, len(data.epoch_batches(0)), techniques)
    state = training.state
    accelerator = make_accelerator(cfg)
    state.model, state.optimizer = accelerator.prepare(state.model, state.optimizer)
    bind_task_model(task, state.model)
    curve = LossCurve()
    run_dir.mkdir(parents=True, exist_ok=True)
    handlers = [*techniques, MetricsLog(run_dir / "metrics.jsonl", cfg.train.log_every), curve]
    with torch_threads(cfg.train.num_threads):
        fit(state, task, data, training.plan, accelerator, handlers, None)
    model = export_model(accelerator.unwrap_model(state.model), techniques)
    info = {"pairs": len(pairs), "steps": state.step, **curve.ends()}
    log(f"  contrastive tuning: {len(pairs)} pairs, {state.step} steps, loss "
        f"{info['first_loss']:.4f} -> {info['last_loss']:.4f}")  # fmt: skip
    return model, info


def _setfit_scores(
    cfg: Any, corpus: Corpus, encoder: Encoder, shots: np.ndarray, seed: int, run_dir: Path,
    log: Any,
) -> tuple[dict[str, float], dict[str, Any]]:  # fmt: skip
    """Tune the body on pairs of the shots, then a logistic head on the tuned embeddings."""
    texts = [corpus.texts[i] for i in shots]
    y_shot, y_test = corpus.labels[shots], corpus.labels[corpus.test]
    started = time.perf_counter()
    body, info = tune_body(cfg, encoder.model, encoder.tokenizer, texts, y_shot, seed, run_dir, log)
    tuned = Encoder(body, encoder.tokenizer, encoder.path)
    test_texts = [corpus.texts[i] for i in corpus.test]
    x_shot = embed_texts(tuned, texts, cfg.model.max_length, cfg.embed_batch_size)
    x_test = embed_texts(tuned, test_texts, cfg.model.max_length, cfg.embed_batch_size)
    head = fit_logreg(x_shot, y_shot, cfg.logreg_c, seed)
    return scores(y_test, head.predict(x_test)), {
        **info,
        "seconds": round(time.perf_counter() - started, 1),
    }


def score_draw(
    cfg: Any, corpus: Corpus, encoder: Encoder, frozen: np.ndarray | None, draw: int,
    run_dir: Path, log: Any, episodic: EpisodicProtonet | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Scores of `cfg.method` (and the logreg baseline) on the test rows for draw `draw`.

    `cfg` is a few-shot config (method, shots, seed, baseline, logreg_c, distance,
    protonet_episodes, ...); `episodic` runs ProtoNet episodes when `cfg.protonet_episodes`.
    """
    seed = draw_seed(cfg.seed, draw)
    shots = draw_shots(corpus.labels, corpus.pool, cfg.shots, seed)
    y_shot, y_test = corpus.labels[shots], corpus.labels[corpus.test]
    draw_dir = run_dir / "draws" / str(draw)
    result: dict[str, Any] = {"draw": draw, "seed": seed}
    if frozen is not None and (cfg.baseline or cfg.method == "logreg"):
        head = fit_logreg(frozen[shots], y_shot, cfg.logreg_c, seed)
        result["logreg"] = scores(y_test, head.predict(frozen[corpus.test]))
    if cfg.method == "protonet":
        assert frozen is not None
        if cfg.protonet_episodes:
            assert episodic is not None, "protonet_episodes needs the episodic trainer"
            pred = episodic(frozen, corpus, shots, seed, draw_dir)
        else:
            classes, protos = prototypes(frozen[shots], y_shot)
            pred = predict_prototypes(frozen[corpus.test], classes, protos, cfg.distance)
        result["protonet"] = scores(y_test, pred)
    elif cfg.method == "setfit":
        result["setfit"], result["setfit_training"] = _setfit_scores(
            cfg, corpus, encoder, shots, seed, draw_dir, log
        )
    return result
