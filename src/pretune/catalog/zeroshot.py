"""The zero-shot config: TransferConfig plus label names, prompts and self-training."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from pretune.catalog.common import transfer_schema
from pretune.catalog.fewshot import TransferSettings
from pretune.config import TrainConfig, narrow

__all__ = ["ZeroshotConfig", "ZeroshotSettings"]


class ZeroshotSettings(TransferSettings):
    """Zero-shot classification from label names or descriptions (`pretune zeroshot`)."""

    method: Literal["embedding", "cloze"] = Field(
        "embedding",
        description="embedding: cosine between text and label-prompt embeddings; cloze: a "
        "masked LM fills '[MASK]' in cloze_template (needs a trained MLM head).",
    )
    labels: list[str] | None = Field(
        None,
        description="Label names to classify into, e.g. labels=business,tech (null: all the "
        "data's labels). Each must occur in the data, which scores the predictions.",
    )
    label_text: dict[str, str] = Field(
        default_factory=dict,
        description="Words to use for a label in prompts, e.g. {tech: technology} "
        "(applied from the template step on).",
    )
    templates: list[str] = Field(
        default_factory=lambda: ["This article is about {label}."],
        description="Prompt templates with {label}; several are averaged.",
    )
    descriptions: dict[str, str] = Field(
        default_factory=dict,
        description="A sentence or keyword list describing each label (added to its prompts).",
    )
    self_train_rounds: int = Field(
        2, ge=0, description="Rounds of self-training on unlabelled pool text (0: none)."
    )
    unlabelled_max: int | None = Field(
        500,
        ge=1,
        description="Pool texts (labels unused) for self-training: a seeded sample "
        "of this many (null: the whole pool).",
    )
    keep_fraction: float = Field(
        0.5, gt=0, le=1, description="Share of each pseudo-class's most confident rows kept."
    )
    logreg_c: float = Field(
        1.0, gt=0, description="Inverse regularisation of the self-trained head."
    )
    cloze_template: str = Field(
        "This article is about {mask}.", description="cloze: the prompt after the text."
    )

    @field_validator("labels", mode="before")
    @classmethod
    def _split_labels(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if value is not None:
            value = [str(v).strip() for v in value if str(v).strip()]
            if not value:
                raise ValueError("labels is empty; give at least two label names (or null)")
            if len(value) < 2:
                raise ValueError(f"labels={value[0]} is one label; zero-shot needs at least two")
            if len(set(value)) != len(value):
                raise ValueError(f"labels has duplicates: {', '.join(value)}")
        return value

    @field_validator("templates", mode="after")
    @classmethod
    def _check_templates(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("templates is empty; give at least one, e.g. '{label}'")
        for t in value:
            if "{label}" not in t:
                raise ValueError(f"template {t!r} has no {{label}} placeholder")
        return value


# Zero-shot trains nothing through the loop: of `train:` it reads only the process settings.
ZeroshotTrainConfig = narrow(
    TrainConfig,
    "ZeroshotTrainConfig",
    drop=[k for k in TrainConfig.model_fields if k not in ("num_threads", "deterministic")],
)


ZeroshotConfig = transfer_schema(
    "zeroshot",
    "Zero-shot classification from label names (embeddings or MLM cloze).",
    ZeroshotSettings,
    train=ZeroshotTrainConfig,
    techniques=False,
)
