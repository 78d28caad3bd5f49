"""The NER config: RunConfig plus a `ner:` section (kept apart so that `pretune config show
ner` reads the schema without importing torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pretune.catalog.common import (
    ANNOTATED_DATA,
    TrainWithoutClassLoss,
    model_section,
    training_schema,
)
from pretune.config import (
    Section,
)

__all__ = ["NerConfig", "NerSection"]


class NerSection(Section):
    """The `ner:` section: columns of CoNLL files, sub-word labelling and entity chunking."""

    token_column: int = Field(0, description="CoNLL column holding the token.")
    tag_column: int = Field(-1, description="CoNLL column holding the tag (-1: the last).")
    label_all_subtokens: bool = Field(
        False,
        description="Train on every sub-token (B-X -> I-X after the first) instead of only "
        "the first sub-token of each word.",
    )
    chunking: Literal["strict", "conlleval"] = Field(
        "strict",
        description="How tags become entities: strict IOB2 (an I-X must follow B-X/I-X) or "
        "conlleval (an orphan I-X starts an entity).",
    )


NER_METRICS = ("f1", "precision", "recall", "macro_f1", "accuracy", "loss")

NerConfig = training_schema(
    "ner",
    "Train a named-entity recognizer (token classification).",
    task_kind="ner",
    metrics=NER_METRICS,
    data=ANNOTATED_DATA,
    model=model_section(
        "NerModelConfig", max_length=(128, "Tokens per sentence (longer are cut).")
    ),
    train=TrainWithoutClassLoss,
    ner=NerSection,
)
