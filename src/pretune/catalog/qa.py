"""The extractive-QA config: RunConfig plus a `qa:` section (kept apart so that `pretune
config show qa` reads the schema without importing torch)."""

from __future__ import annotations

from typing import Any

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

__all__ = ["QaConfig", "QaSection"]


class QaSection(Section):
    """The `qa:` section: windows over long contexts and answer decoding."""

    stride: int = Field(
        32, ge=0, description="Context tokens shared by consecutive windows of a long context."
    )
    max_answer_length: int = Field(30, ge=1, description="Longest answer, in tokens.")
    n_best: int = Field(20, ge=1, description="Start and end candidates tried per window.")
    max_questions_per_context: int = Field(
        2, ge=1, description="bbc-cloze: questions made from each article."
    )


QA_METRICS = ("f1", "exact_match", "loss")


def _check_qa(cfg: Any) -> None:
    if cfg.qa.stride >= cfg.model.max_length // 2:
        raise ValueError(
            f"qa.stride={cfg.qa.stride} must be under half of model.max_length="
            f"{cfg.model.max_length} (windows would barely advance)"
        )


QaConfig = training_schema(
    "qa",
    "Train an extractive question-answering model.",
    task_kind="qa",
    metrics=QA_METRICS,
    checks=[_check_qa],
    data=ANNOTATED_DATA,
    model=model_section(
        "QaModelConfig", max_length=(128, "Tokens per window (question + context).")
    ),
    train=TrainWithoutClassLoss,
    qa=QaSection,
)
