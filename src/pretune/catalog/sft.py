"""The SFT config: RunConfig plus an `sft:` section (data format and chat template).

Kept apart from the recipe so that `pretune config show sft` reads the schema without torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pretune.catalog.common import (
    ENCODER_DROPOUTS,
    LABEL_FREE_DATA,
    LM_METRICS,
    LMEvalConfig,
    TrainWithoutClassLoss,
    data_section,
    training_schema,
)
from pretune.config import ModelConfig, Section, narrow

__all__ = ["SFTConfig", "SFTModelConfig", "SFTSection", "check_sft_config"]


class SFTSection(Section):
    """The `sft:` section: which JSONL fields hold the conversation, and the chat template."""

    prompt_field: str = Field("prompt", description="JSONL field holding the prompt (pairs).")
    response_field: str = Field(
        "response", description="JSONL field holding the response to train on (pairs)."
    )
    messages_field: str = Field(
        "messages",
        description="JSONL field holding a list of {role, content} messages (conversations).",
    )
    system: str | None = Field(
        None, description="A system message put before every prompt/response pair (null: none)."
    )
    chat_template: Literal["auto", "default"] = Field(
        "auto",
        description="auto: the tokenizer's own chat template if it has one, else pretune's "
        "default (User:/Assistant:); default: always pretune's.",
    )


# `model:` for SFT: the causal LM to start from is required (checked when the run starts, so
# that `pretune config show sft` can print the defaults).
SFTModelConfig = narrow(
    ModelConfig,
    "SFTModelConfig",
    drop=ENCODER_DROPOUTS,
    replace={
        "init_from": (
            str | None,
            Field(None, description="The causal LM to fine-tune: a `pretune pretrain "
                  "objective=clm` run, an SFT/RL run or a Hugging Face causal-LM checkpoint "
                  "folder."),
        ),
        "max_length": (
            int, Field(256, ge=8, description="Tokens per conversation (longer ones are cut "
                       "at the end)."),
        ),
    },
)  # fmt: skip

# Conversations come from one JSONL file (and an optional validation file).
SFTDataConfig = data_section(
    "SFTDataConfig",
    drop=(*LABEL_FREE_DATA, "text_column", "test_file", "test_fraction", "clean"),
)


SFTConfig = training_schema(
    "sft",
    "Supervised fine-tuning of a causal LM on prompt/response pairs (`pretune config show sft`).",
    task_kind="sft",
    metrics=LM_METRICS,
    data=SFTDataConfig,
    model=SFTModelConfig,
    train=TrainWithoutClassLoss,
    eval=LMEvalConfig,
    sft=SFTSection,
)


def check_sft_config(cfg: Any) -> None:
    """The settings SFT cannot run without (checked at run time so that `pretune config show
    sft` can print the defaults)."""
    from pretune.errors import ConfigError

    if not cfg.model.init_from:
        raise ConfigError(
            "model.init_from is required: the causal LM to fine-tune (e.g. "
            "model.init_from=runs/<a pretune pretrain objective=clm run>)"
        )
    if not cfg.data.source:
        raise ConfigError(
            "data.source is required: a JSONL file of {prompt, response} pairs or "
            "{messages: [{role, content}, ...]} conversations"
        )
