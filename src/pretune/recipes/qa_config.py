"""The extractive-QA config: RunConfig plus a `qa:` section (kept apart so that `pretune
config show qa` reads the schema without importing torch)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pretune.config import EvalConfig, ModelConfig, RunConfig

__all__ = ["QA_DEFAULTS", "QaConfig", "QaSection", "qa_spec"]

QA_DEFAULTS: dict[str, Any] = {
    "data": {"source": "bbc-cloze", "val_fraction": 0.1, "test_fraction": 0.1},
    "train": {"batch_size": 16, "lr": 1e-4, "epochs": 2.0, "warmup_ratio": 0.1},
}


class QaSection(BaseModel):
    """The `qa:` section: windows over long contexts and answer decoding."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    stride: int = Field(
        32, ge=0, description="Context tokens shared by consecutive windows of a long context."
    )
    max_answer_length: int = Field(30, ge=1, description="Longest answer, in tokens.")
    n_best: int = Field(20, ge=1, description="Start and end candidates tried per window.")
    max_questions_per_context: int = Field(
        2, ge=1, description="bbc-cloze: questions made from each article."
    )


class QaModelConfig(ModelConfig):
    max_length: int = Field(128, ge=16, description="Tokens per window (question + context).")


class QaEvalConfig(EvalConfig):
    metric: str = Field(
        "f1", description="Validation metric that picks the best checkpoint (SQuAD F1)."
    )


class QaConfig(RunConfig):
    """RunConfig plus `qa:` (`pretune config show qa`)."""

    @property
    def task_kind(self) -> str:
        return "qa"

    model: QaModelConfig = Field(default_factory=QaModelConfig)
    eval: QaEvalConfig = Field(default_factory=QaEvalConfig)
    qa: QaSection = Field(default_factory=QaSection)

    @model_validator(mode="after")
    def _check_qa(self) -> QaConfig:
        if self.qa.stride >= self.model.max_length // 2:
            raise ValueError(
                f"qa.stride={self.qa.stride} must be under half of model.max_length="
                f"{self.model.max_length} (windows would barely advance)"
            )
        return self


def qa_spec() -> Any:
    """The catalog entry (recipes/catalog.py)."""
    from pretune.recipes.catalog import RecipeSpec

    return RecipeSpec("train an extractive question-answering model", QaConfig, QA_DEFAULTS)
