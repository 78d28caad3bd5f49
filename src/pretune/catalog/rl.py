"""The RL fine-tuning config: RunConfig plus `rl:` (sampling, KL) and `reward:` sections.

Kept apart from the recipe so that `pretune config show rl` reads the schema without torch.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from pretune.catalog.common import (
    ENCODER_DROPOUTS,
    LABEL_FREE_DATA,
    TrainWithoutClassLoss,
    data_section,
    eval_section,
    model_section,
    training_schema,
)
from pretune.config import (
    Section,
    narrow,
)

__all__ = [
    "RLConfig",
    "RLModelConfig",
    "RLSection",
    "RewardSection",
    "check_rl_config",
]


class RLSection(Section):
    """The `rl:` section: prompts, sampling and the KL penalty."""

    samples_per_prompt: int = Field(
        4, ge=2, description="Completions sampled per prompt (RLOO baseline: the others' mean)."
    )
    max_new_tokens: int = Field(24, ge=1, description="Tokens per sampled completion.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    top_k: int = Field(0, ge=0, description="Sample from the k likeliest tokens (0: all).")
    kl_coef: float = Field(
        0.05,
        ge=0,
        description="beta: the reward is score - beta * KL(policy || reference) per sequence.",
    )
    prompt_words: int = Field(
        4, ge=1, description="Prompts cut from a text corpus (e.g. bbc): its first N words."
    )
    prompt_field: str = Field("prompt", description="JSONL field holding a prompt.")
    eval_prompts: int = Field(
        16, ge=0, description="Held-out prompts scored at each evaluation (0: no evaluation)."
    )
    chat_template: bool | None = Field(
        None,
        description="Format prompts with the policy's chat template (null: when it has one, "
        "e.g. an SFT run).",
    )


class RewardSection(Section):
    """The `reward:` section: a classifier's probability of a label, or keywords."""

    classifier: str | None = Field(
        None,
        description="A pretune classifier run (or checkpoint): reward = its probability of "
        "reward.label for the completion.",
    )
    label: str | None = Field(None, description="The classifier label to reward, e.g. sports.")
    keywords: list[str] = Field(
        default_factory=list,
        description="Without a classifier: reward = share of completion words that are one "
        "of these (case-insensitive).",
    )
    batch_size: int = Field(64, ge=1, description="Completions per classifier forward pass.")

    @model_validator(mode="after")
    def _check(self) -> RewardSection:
        if self.classifier and not self.label:
            raise ValueError("reward.classifier needs reward.label (the label to reward)")
        if self.classifier and self.keywords:
            raise ValueError("set reward.classifier or reward.keywords, not both")
        return self


RL_METRICS = ("reward", "kl", "loss")

# `model:` for RL: the causal LM policy (also the frozen reference) is required; prompts and
# completions set their own lengths (rl.max_new_tokens).
RLModelConfig = model_section(
    "RLModelConfig",
    drop=(*ENCODER_DROPOUTS, "max_length"),
    init_from="The causal LM to fine-tune (and the frozen KL reference): a clm, SFT or RL run, "
    "or a causal-LM checkpoint folder.",
)

# Prompts come from one source; the held-out prompts are rl.eval_prompts of them.
RLDataConfig = data_section(
    "RLDataConfig",
    drop=(*LABEL_FREE_DATA, "validation_file", "test_file", "val_fraction", "test_fraction",
          "clean"),
    source="bbc",
)  # fmt: skip

RLTrainConfig = narrow(TrainWithoutClassLoss, "TrainConfig", drop=("group_by_length",))


def _check_rl_early_stopping(cfg: Any) -> None:
    if cfg.train.early_stopping_patience and cfg.rl.eval_prompts == 0:
        raise ValueError(
            "train.early_stopping_patience watches the held-out prompts' reward, but "
            "rl.eval_prompts=0 holds none out; set rl.eval_prompts"
        )


RLConfig = training_schema(
    "rl",
    "RL fine-tuning of a causal LM against a reward.",
    task_kind="rl",
    metrics=RL_METRICS,
    early_stopping_check=_check_rl_early_stopping,
    data=RLDataConfig, model=RLModelConfig, train=RLTrainConfig,
    # Held-out prompts are sampled train.batch_size at a time: no eval.batch_size.
    eval=eval_section("RLEvalConfig", RL_METRICS, drop=["batch_size"]),
    rl=RLSection,
    reward=RewardSection,
)  # fmt: skip


def check_rl_config(cfg: Any) -> None:
    """The settings RL cannot run without (checked at run time so that `pretune config show rl`
    can print the defaults)."""
    from pretune.errors import ConfigError

    if not cfg.model.init_from:
        raise ConfigError(
            "model.init_from is required: the causal LM policy (e.g. "
            "model.init_from=runs/<a pretune pretrain objective=clm run>)"
        )
    if not cfg.reward.classifier and not cfg.reward.keywords:
        raise ConfigError(
            "no reward: set reward.classifier=runs/<classifier> reward.label=<label>, or "
            "reward.keywords=[word, ...]"
        )
