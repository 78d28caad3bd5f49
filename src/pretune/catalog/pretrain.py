"""The pre-training config: RunConfig plus `objective` and a `pretrain:` section.

Kept apart from the recipe so that `pretune config show pretrain` (and the recipe catalog) can
read the schema without importing torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from pretune.catalog.common import (
    ENCODER_DROPOUTS,
    LM_METRICS,
    TrainWithoutClassLoss,
    data_section,
    model_section,
    training_schema,
)
from pretune.config import Section
from pretune.models.presets import PRESETS

__all__ = ["PretrainConfig", "PretrainModelConfig", "PretrainSection"]


class PretrainSection(Section):
    """The `pretrain:` section: tokenizer, model size, masking and packing."""

    preset: str | None = Field(
        None,
        description="Model size from scratch: nano, tiny, mini, small (null: tiny unless "
        "model.init_from is set).",
    )
    tokenizer: str | None = Field(
        None,
        description="Tokenizer folder to use (null: the checkpoint's, or train one).",
    )
    tokenizer_type: Literal["wordpiece", "bpe", "unigram"] | None = Field(
        None,
        description="Tokenizer trained from the data (null: wordpiece for mlm, bpe for clm).",
    )
    vocab_size: int = Field(8000, ge=32, description="Vocabulary size of a trained tokenizer.")
    lowercase: bool = Field(True, description="A trained tokenizer lowercases text.")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="Share of tokens masked (mlm).")
    mask_ratio: float = Field(0.8, ge=0, le=1, description="Masked tokens replaced by [MASK].")
    random_ratio: float = Field(
        0.1, ge=0, le=1, description="Masked tokens replaced by a random token (rest: kept)."
    )
    whole_word_masking: bool = Field(False, description="Mask all tokens of a word together.")
    packing: bool = Field(
        True, description="Pack documents into full windows (false: one padded document per row)."
    )

    @model_validator(mode="after")
    def _check(self) -> PretrainSection:
        if self.mask_ratio + self.random_ratio > 1:
            raise ValueError(
                f"pretrain.mask_ratio + pretrain.random_ratio = "
                f"{self.mask_ratio + self.random_ratio:g} exceeds 1; the rest is kept unchanged"
            )
        if self.preset is not None and self.preset not in PRESETS.names():
            PRESETS.get(self.preset)  # raises with close matches
        return self


# `model:` for pre-training: no checkpoint by default (a preset from scratch); no classifier
# head or encoder dropouts (a language model keeps its own).
PretrainModelConfig = model_section(
    "PretrainModelConfig",
    drop=ENCODER_DROPOUTS,
    init_from="Checkpoint to continue pre-training (null: a preset from scratch).",
    max_length=(128, "Tokens per window (the context length)."),
)

PretrainDataConfig = data_section("PretrainDataConfig", drop=("balance", "test_file"))


def _check_pretrain(cfg: Any) -> None:
    p = cfg.pretrain
    if p.preset is not None and cfg.model.init_from is not None:
        raise ValueError(
            "pretrain.preset and model.init_from are both set; a preset trains from scratch, "
            "init_from continues a checkpoint: set only one"
        )
    if p.tokenizer_type is not None and (p.tokenizer or cfg.model.init_from):
        raise ValueError(
            "pretrain.tokenizer_type trains a new tokenizer, but a tokenizer is already given "
            "(pretrain.tokenizer or model.init_from); drop pretrain.tokenizer_type"
        )
    if cfg.objective == "clm" and p.whole_word_masking:
        raise ValueError("pretrain.whole_word_masking applies to objective=mlm only")


PretrainConfig = training_schema(
    "pretrain",
    "Pre-train a masked (mlm) or causal (clm) language model.",
    task_kind=lambda cfg: cfg.objective,
    metrics=LM_METRICS,
    checks=[_check_pretrain],
    objective=(
        Literal["mlm", "clm"],
        Field("mlm", description="mlm: masked LM (BERT-style); clm: causal LM (GPT-style)."),
    ),
    data=PretrainDataConfig,
    model=PretrainModelConfig,
    train=TrainWithoutClassLoss,
    pretrain=PretrainSection,
)
