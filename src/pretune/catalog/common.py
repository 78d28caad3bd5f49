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
    Section,
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
    "TransferTrainConfig",
    "data_section",
    "eval_section",
    "model_section",
    "training_schema",
    "transfer_schema",
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


# The transfer recipes (fewshot, zeroshot, metalearn) score a stratified test split of one
# source (`test_fraction` in their settings), with a frozen sentence encoder: no validation or
# separate files, no new head or dropouts, nothing evaluated while a head or the body tunes.
TRANSFER_DATA = narrow(
    DataConfig, "TransferDataConfig",
    drop=("balance", "max_train_examples", "test_file", "test_fraction",
          "val_fraction", "validation_file"),
)  # fmt: skip
TRANSFER_MODEL = narrow(
    ModelConfig, "TransferModelConfig",
    drop=(*ENCODER_DROPOUTS, "freeze_embeddings", "gradient_checkpointing", "init"),
)  # fmt: skip
# Their tuning runs once per draw or held-out set, each to its end: no checkpoints to keep,
# no validation to stop early on.
TransferTrainConfig = narrow(
    TrainWithoutClassLoss, "TransferTrainConfig",
    drop=("early_stopping_patience", "group_by_length", "keep_checkpoints"),
)  # fmt: skip
NO_VALIDATION = "{recipe} tunes once per draw or held-out set without validation; it scores "
TRANSFER_HINTS = {
    "train.early_stopping_patience": NO_VALIDATION + "its test split at the end",
    "train.keep_checkpoints": "{recipe} keeps no checkpoints (no --resume); "
    "`pretune config show {recipe}` lists its keys",
    "eval.metric": NO_VALIDATION + "accuracy and macro-F1 on its test split",
    "eval.batch_size": "set embed_batch_size (texts per forward pass when embedding)",
}


def transfer_schema(
    recipe: str,
    doc: str,
    settings: type[Section],
    *,
    train: type,
    techniques: bool,
    hints: dict[str, str] | None = None,
) -> type[RunBase]:
    """The schema of a transfer recipe: its settings at the top of the config, the data,
    model and train sections as it reads them, no `eval:` (see TRANSFER_DATA), and
    `techniques:` only where it tunes the encoder through the loop."""
    validators: list[Callable[[Any], None]] = []
    parts: dict[str, Any] = {}
    if "optimizer" in train.model_fields:
        validators.append(check_training)
    hints = {**NO_CLASSIFICATION_LOSS, **TRANSFER_HINTS, **(hints or {})}
    if techniques:
        validators.append(check_techniques)
        parts["techniques"] = TECHNIQUES_FIELD
    else:
        hints["techniques"] = (
            "{recipe} tunes no encoder through the loop, so a technique "
            "would have nothing to change"
        )
    return compose(
        recipe, doc, task_kind="classify", validators=validators, top_level=settings,
        hints=hints, data=TRANSFER_DATA,
        model=TRANSFER_MODEL, train=train, **parts,
    )  # fmt: skip
