"""The NER config: RunConfig plus a `ner:` section (kept apart so that `pretune config show
ner` reads the schema without importing torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pretune.config import EvalConfig, ModelConfig, RunConfig

__all__ = ["NER_DEFAULTS", "NerConfig", "NerSection"]

NER_DEFAULTS: dict[str, Any] = {
    "data": {"source": "wnut16", "val_fraction": 0.1, "test_fraction": 0.1},
    "train": {"batch_size": 16, "lr": 1e-4, "epochs": 3.0, "warmup_ratio": 0.1},
}


class NerSection(BaseModel):
    """The `ner:` section: columns of CoNLL files, sub-word labelling and entity chunking."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

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


class NerModelConfig(ModelConfig):
    max_length: int = Field(128, ge=8, description="Tokens per sentence (longer ones are cut).")


class NerEvalConfig(EvalConfig):
    metric: str = Field(
        "f1", description="Validation metric that picks the best checkpoint (entity micro F1)."
    )


class NerConfig(RunConfig):
    """RunConfig plus `ner:` (`pretune config show ner`)."""

    @property
    def task_kind(self) -> str:
        return "ner"

    model: NerModelConfig = Field(default_factory=NerModelConfig)
    eval: NerEvalConfig = Field(default_factory=NerEvalConfig)
    ner: NerSection = Field(default_factory=NerSection)


def ner_spec() -> Any:
    """The catalog entry (recipes/catalog.py)."""
    from pretune.recipes.catalog import RecipeSpec

    return RecipeSpec(
        "train a named-entity recognizer (token classification)", NerConfig, NER_DEFAULTS
    )
