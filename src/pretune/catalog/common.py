"""What several recipe schemas share: the checks every training recipe runs, and the
evaluation sections of the task families."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from pretune.catalog.checks import check_loss, check_techniques, check_training, eval_metric_check
from pretune.config import (
    TECHNIQUES_FIELD,
    DataConfig,
    EvalConfig,
    ModelConfig,
    RunBase,
    TrainConfig,
    check_validation_for_early_stopping,
    compose,
    narrow,
)

__all__ = [
    "CLASSIFY_METRICS",
    "LABEL_FREE_DATA",
    "LM_METRICS",
    "TRAINING_CHECKS",
    "ClassifyEvalConfig",
    "LMEvalConfig",
    "TrainWithoutClassLoss",
    "training_schema",
]

# Every recipe that trains through the session: optimizer/schedule names, techniques that
# apply to its task, and early stopping only with a validation split.
TRAINING_CHECKS = (check_training, check_techniques, check_validation_for_early_stopping)

CLASSIFY_METRICS = (
    "accuracy", "macro_f1", "micro_f1", "weighted_f1", "macro_precision", "macro_recall", "loss",
)  # fmt: skip
LM_METRICS = ("loss", "accuracy", "perplexity")

ClassifyEvalConfig = EvalConfig

LMEvalConfig = narrow(
    EvalConfig,
    "LMEvalConfig",
    replace={
        "metric": (
            str,
            Field(
                "loss",
                description="Validation metric that picks the best weights: loss, accuracy "
                "(next/masked-token) or perplexity.",
            ),
        )
    },
)


# Sections without the keys that only text classification reads. A recipe's schema holds only
# what it reads (a test runs every recipe and checks it), so `pretune pretrain train.loss=focal`
# is an unknown-key error instead of a setting silently ignored.
CLASSIFICATION_ONLY_TRAIN = ("class_weights", "loss", "loss_params")
TrainWithoutClassLoss = narrow(TrainConfig, "TrainConfig", drop=CLASSIFICATION_ONLY_TRAIN)

# Data keys of labelled text: label columns, class balancing.
LABEL_FREE_DATA = ("label_column", "balance")

# Dropouts set on a text encoder's config when it is loaded (classifiers, NER, QA).
ENCODER_DROPOUTS = ("classifier_dropout", "hidden_dropout", "attention_dropout")


def data_section(name: str, drop: tuple[str, ...], **defaults: object) -> type:
    """DataConfig without `drop` (and with other defaults)."""
    return narrow(DataConfig, name, drop=drop, defaults=defaults or None)


def model_section(name: str, drop: tuple[str, ...], **defaults: object) -> type:
    """ModelConfig without `drop` (and with other defaults)."""
    return narrow(ModelConfig, name, drop=drop, defaults=defaults or None)


# Said when a recipe that trains no classifier is given a classification key.
NO_CLASSIFICATION_LOSS = {
    f"train.{key}": "this recipe trains no text classifier, so it has no classification loss "
    "or class weights (`pretune config show {recipe}` lists its keys)"
    for key in CLASSIFICATION_ONLY_TRAIN
}


def training_schema(
    recipe: str,
    doc: str,
    *,
    task_kind: str | Callable[[Any], str],
    metrics: Sequence[str] | Callable[[Any], Sequence[str]] | None,
    checks: Sequence[Callable[[Any], None]] = (),
    data: type = DataConfig,
    model: type = ModelConfig,
    train: type = TrainConfig,
    eval: type = EvalConfig,
    hints: dict[str, str] | None = None,
    early_stopping_check: Callable[[Any], None] = check_validation_for_early_stopping,
    **own: Any,
) -> type[RunBase]:
    """The schema of a recipe that trains through the session: the data, model, train, eval
    and techniques sections (narrowed as the recipe reads them), the recipe's own sections,
    and the checks every such recipe runs when its config loads. `metrics`: what its
    evaluation computes (`eval.metric` must be one); `checks`: the recipe's own, run before."""
    validators: list[Callable[[Any], None]] = [check_training, check_techniques,
                                               early_stopping_check]  # fmt: skip
    if "loss" in train.model_fields:
        validators.append(check_loss)
    validators += list(checks)
    if metrics is not None:
        validators.append(eval_metric_check(metrics))
    if "loss" not in train.model_fields:
        hints = {**NO_CLASSIFICATION_LOSS, **(hints or {})}
    return compose(
        recipe, doc, task_kind=task_kind, validators=validators, hints=hints, data=data,
        model=model, train=train, eval=eval, techniques=TECHNIQUES_FIELD, **own,
    )  # fmt: skip
