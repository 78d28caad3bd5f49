"""The pre-training config: RunConfig plus `objective` and a `pretrain:` section.

Kept apart from the recipe so that `pretune config show pretrain` (and the recipe catalog) can
read the schema without importing torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pretune.config import ModelConfig, RunConfig
from pretune.models.presets import PRESETS

__all__ = ["PRETRAIN_DEFAULTS", "PretrainConfig", "PretrainModelConfig", "PretrainSection"]

# The recipe's own defaults (catalog.py): no test split, a small validation split.
PRETRAIN_DEFAULTS: dict[str, Any] = {
    "data": {"val_fraction": 0.05, "test_fraction": 0.0},
    "train": {"batch_size": 32, "lr": 5e-4, "epochs": 1.0, "eval_every": 0},
}


class PretrainSection(BaseModel):
    """The `pretrain:` section: tokenizer, model size, masking and packing."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

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


class PretrainModelConfig(ModelConfig):
    """`model:` for pre-training: no checkpoint by default (a preset from scratch)."""

    init_from: str | None = Field(  # type: ignore[assignment]
        None,
        description="Checkpoint to continue pre-training (null: a preset from scratch).",
    )
    max_length: int = Field(128, ge=8, description="Tokens per window (the context length).")


class PretrainConfig(RunConfig):
    """RunConfig plus the objective and the `pretrain:` section (`pretune config show pretrain`)."""

    @property
    def task_kind(self) -> str:
        return self.objective

    objective: Literal["mlm", "clm"] = Field(
        "mlm", description="mlm: masked LM (BERT-style); clm: causal LM (GPT-style)."
    )
    model: PretrainModelConfig = Field(default_factory=PretrainModelConfig)
    pretrain: PretrainSection = Field(default_factory=PretrainSection)

    @model_validator(mode="after")
    def _check_pretrain(self) -> PretrainConfig:
        p = self.pretrain
        if p.preset is not None and self.model.init_from is not None:
            raise ValueError(
                "pretrain.preset and model.init_from are both set; a preset trains from scratch, "
                "init_from continues a checkpoint: set only one"
            )
        if p.tokenizer_type is not None and (p.tokenizer or self.model.init_from):
            raise ValueError(
                "pretrain.tokenizer_type trains a new tokenizer, but a tokenizer is already given "
                "(pretrain.tokenizer or model.init_from); drop pretrain.tokenizer_type"
            )
        if self.objective == "clm" and p.whole_word_masking:
            raise ValueError("pretrain.whole_word_masking applies to objective=mlm only")
        return self
