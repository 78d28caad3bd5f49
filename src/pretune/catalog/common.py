"""What several recipe schemas share: the checks every training recipe runs, and the
evaluation sections of the task families."""

from __future__ import annotations

from pydantic import Field

from pretune.catalog.checks import check_techniques, check_training
from pretune.config import (
    DataConfig,
    EvalConfig,
    ModelConfig,
    TrainConfig,
    check_validation_for_early_stopping,
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
