"""What the recipe schemas share: `training_schema` (the sections and checks of every recipe
that trains through the session) and builders of the narrowed sections recipes read.

A recipe's schema holds only what it reads (a test runs every recipe and checks it), so
`pretune pretrain train.loss=focal` is an error naming the key instead of a setting silently
ignored.
"""

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
    "ANNOTATED_DATA",
    "CLASSIFY_METRICS",
    "ENCODER_DROPOUTS",
    "LABEL_FREE_DATA",
    "LM_METRICS",
    "TrainWithoutClassLoss",
    "data_section",
    "eval_section",
    "model_section",
    "training_schema",
]

CLASSIFY_METRICS = (
    "accuracy", "macro_f1", "micro_f1", "weighted_f1", "macro_precision", "macro_recall", "loss",
)  # fmt: skip
LM_METRICS = ("loss", "accuracy", "perplexity")

# Keys only text classification reads: the loss and class weights, label columns, balancing.
CLASSIFICATION_ONLY_TRAIN = ("class_weights", "loss", "loss_params")
TrainWithoutClassLoss = narrow(TrainConfig, "TrainConfig", drop=CLASSIFICATION_ONLY_TRAIN)
LABEL_FREE_DATA = ("label_column", "balance")
# Dropouts set on a text encoder's config when it is loaded (classifiers, NER, QA).
ENCODER_DROPOUTS = ("classifier_dropout", "hidden_dropout", "attention_dropout")

# Sentences with tags (NER) or questions with contexts (QA) come in their own file formats: no
# text or label column, no text cleaning.
ANNOTATED_DATA = narrow(
    DataConfig, "AnnotatedDataConfig",
    drop=(*LABEL_FREE_DATA, "text_column", "encoding_errors", "clean"),
)  # fmt: skip

# Said when a recipe that trains no classifier is given a classification key.
NO_CLASSIFICATION_LOSS = {
    f"train.{key}": "this recipe trains no text classifier, so it has no classification loss "
    "or class weights (`pretune config show {recipe}` lists its keys)"
    for key in CLASSIFICATION_ONLY_TRAIN
}


def data_section(name: str, drop: Sequence[str], **defaults: Any) -> type:
    """DataConfig without `drop` (and with other defaults)."""
    return narrow(DataConfig, name, drop=drop, defaults=defaults or None)


def model_section(
    name: str,
    drop: Sequence[str] = (),
    *,
    init_from: str | None = None,
    max_length: tuple[int, str] | None = None,
) -> type:
    """ModelConfig without `drop`; `init_from` (its help) makes it optional (null by default),
    `max_length` = (default, help) says what a token budget means for this recipe."""
    replace: dict[str, tuple[Any, Any]] = {}
    if init_from is not None:
        replace["init_from"] = (str | None, Field(None, description=init_from))
    if max_length is not None:
        replace["max_length"] = (int, Field(max_length[0], ge=8, description=max_length[1]))
    return narrow(ModelConfig, name, drop=drop, replace=replace or None)


def eval_section(name: str, metrics: Sequence[str], drop: Sequence[str] = ()) -> type:
    """`eval:` whose `metric` defaults to `metrics[0]` (the recipe's headline)."""
    description = (
        f"Validation metric that picks the best weights and drives early stopping: "
        f"{', '.join(metrics)} (loss, perplexity and kl: lower wins; the others: higher)."
    )
    replace = {"metric": (str, Field(metrics[0], description=description))}
    return narrow(EvalConfig, name, drop=drop, replace=replace)


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
    eval: type | None = None,
    hints: dict[str, str] | None = None,
    early_stopping_check: Callable[[Any], None] = check_validation_for_early_stopping,
    **own: Any,
) -> type[RunBase]:
    """The schema of a recipe that trains through the session: the data, model, train, eval
    and techniques sections (narrowed as the recipe reads them), the recipe's own sections,
    and the checks every such recipe runs when its config loads. `metrics`: what its
    evaluation computes (`eval.metric` must be one; the first is the default); `checks`: the
    recipe's own, run before the metric check."""
    validators: list[Callable[[Any], None]] = [check_training, check_techniques,
                                               early_stopping_check]  # fmt: skip
    if "loss" in train.model_fields:
        validators.append(check_loss)
    else:
        hints = {**NO_CLASSIFICATION_LOSS, **(hints or {})}
    validators += list(checks)
    if metrics is not None:
        validators.append(eval_metric_check(metrics))
    if eval is None:
        fixed = isinstance(metrics, Sequence) and metrics[0] != "accuracy"
        eval = eval_section(f"{recipe.title()}EvalConfig", metrics) if fixed else EvalConfig  # type: ignore[arg-type]
    return compose(
        recipe, doc, task_kind=task_kind, validators=validators, hints=hints, data=data,
        model=model, train=train, eval=eval, techniques=TECHNIQUES_FIELD, **own,
    )  # fmt: skip
