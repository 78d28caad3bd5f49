"""Recipe: fine-tune a pre-trained encoder for text classification.

    prepare_data -> classifier and ClassifyTask -> session.train (the one loop) -> test -> save

Callable from Python (`run_finetune(config)`, `pretune.finetune(...)`) and from the CLI
(`pretune finetune`, and `pretune quickstart`, which is this recipe with its defaults: MiniLM on
BBC News).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from pretune.data.balance import class_weights, label_counts
from pretune.data.encode import EncodedSplit, TrainBatches
from pretune.data.text_classification import (
    PreparedData,
    column,
    encode_splits,
    prepare_data,
    report_data,
)
from pretune.evaluate.analysis import analyse_test_split
from pretune.evaluate.evaluator import evaluate_split
from pretune.models.load import load_classifier, load_tokenizer, resolve_model_path
from pretune.models.settings import apply_model_settings
from pretune.recipes._runner import recipe
from pretune.tasks.classify import ClassifyTask
from pretune.train.session import Session, Trained

__all__ = [
    "build_classifier",
    "classifier_summary",
    "classify_task_factory",
    "run_finetune",
    "validation_evaluator",
]


def build_classifier(cfg: Any, model_path: Path, label_names: Sequence[str]) -> Any:
    """The sequence classifier of `model_path` with a new head for `label_names`, with the
    config's dropouts, head init, embedding freezing and gradient checkpointing."""
    m = cfg.model
    model = load_classifier(
        model_path,
        list(label_names),
        max_length=m.max_length,
        classifier_dropout=m.classifier_dropout,
        hidden_dropout=m.hidden_dropout,
        attention_dropout=m.attention_dropout,
    )
    return apply_model_settings(model, m)


def classify_task_factory(
    cfg: Any, label_names: Sequence[str], train_labels: Sequence[int]
) -> Callable[[Any], ClassifyTask]:
    """model -> the ClassifyTask that trains it (the configured loss, class weights)."""
    t = cfg.train
    weights = None
    if t.class_weights == "balanced":
        counts = class_weights(list(train_labels), len(label_names))
        weights = torch.tensor(counts, dtype=torch.float)

    def make_task(model: Any) -> ClassifyTask:
        return ClassifyTask(
            model, list(label_names), weights, loss=t.loss, loss_params=t.loss_params
        )

    return make_task


def validation_evaluator(
    split: EncodedSplit, batch_size: int, label_names: Sequence[str]
) -> Callable[[Any, torch.device], dict[str, Any]] | None:
    """`(task, device) -> metrics` on the validation split; None when it is empty."""
    if len(split) == 0:
        return None

    def evaluate(task: Any, device: torch.device) -> dict[str, Any]:
        return evaluate_split(task, split, batch_size, device, list(label_names))

    return evaluate


def classifier_summary(
    cfg: Any, trained: Trained, data: PreparedData, encoded: dict[str, EncodedSplit]
) -> dict[str, Any]:
    """Test metrics, data sizes and the analysis sections (curves, calibration, errors,
    efficiency) of a trained text classifier."""
    test: dict[str, Any] = {}
    batch, device = cfg.eval.batch_size, trained.device
    if len(encoded["test"]) > 0:
        test = evaluate_split(trained.task, encoded["test"], batch, device, data.label_names)
    summary: dict[str, Any] = {
        "task": "classify",
        "labels": data.label_names,
        "test": test,
        "data": {
            "sizes": {key: len(split) for key, split in encoded.items()},
            "train_label_counts": label_counts(column(data.splits["train"], "label")),
            "truncated_fraction": {
                key: round(split.truncated / max(1, len(split)), 4)
                for key, split in encoded.items()
            },
            "cleaning": data.cleaning,
        },
        "timing": {
            "train_seconds": round(trained.train_seconds, 2),
            "train_examples_per_s": round(
                trained.state.examples_seen / max(trained.train_seconds, 1e-9), 2
            ),
        },
    }
    summary.update(
        analyse_test_split(
            trained.model, data.splits, encoded, data.label_names, summary, device, batch,
            trained.state,
        )
    )  # fmt: skip
    return summary


@recipe("finetune")
def run_finetune(cfg: Any, session: Session) -> dict[str, Any]:
    """Fine-tune, evaluate on test, save `model/`; returns the summary."""
    model_path = resolve_model_path(cfg.model.init_from)  # fail fast, before data work
    data = prepare_data(cfg.data, cfg.seed)
    tokenizer = load_tokenizer(model_path)
    encoded = encode_splits(tokenizer, data, cfg.model.max_length)
    report_data(data, encoded, cfg.model.max_length, session.log)
    model = build_classifier(cfg, model_path, data.label_names)
    t = cfg.train
    trained = session.train(
        model,
        classify_task_factory(cfg, data.label_names, encoded["train"].labels or []),
        TrainBatches(encoded["train"], t.batch_size, cfg.seed, t.group_by_length),
        evaluate=validation_evaluator(encoded["validation"], cfg.eval.batch_size, data.label_names),
    )
    if not trained.main_process:
        return {}
    session.save_model(trained.model, tokenizer)
    return classifier_summary(cfg, trained, data, encoded)
