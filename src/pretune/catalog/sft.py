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
    TrainWithoutClassLoss,
    data_section,
    model_section,
    training_schema,
)
from pretune.config import Section

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
SFTModelConfig = model_section(
    "SFTModelConfig",
    drop=ENCODER_DROPOUTS,
    init_from="The causal LM to fine-tune: a `pretune pretrain objective=clm` run, an SFT/RL "
    "run or a Hugging Face causal-LM checkpoint folder.",
    max_length=(256, "Tokens per conversation (longer ones are cut at the end)."),
)

# Conversations come from one JSONL file (and an optional validation file).
SFTDataConfig = data_section(
    "SFTDataConfig",
    drop=(*LABEL_FREE_DATA, "text_column", "test_file", "test_fraction", "clean"),
)


SFTConfig = training_schema(
    "sft",
    "Fine-tune a causal LM on prompt/response pairs.",
    task_kind="sft", metrics=LM_METRICS,
    data=SFTDataConfig, model=SFTModelConfig, train=TrainWithoutClassLoss, sft=SFTSection,
)  # fmt: skip


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
