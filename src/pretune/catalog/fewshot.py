"""The few-shot config: RunConfig plus the few-shot settings (`pretune config show fewshot`).

Kept apart from the recipe so that the catalog can read the schema without importing torch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pretune.catalog.common import TransferTrainConfig, transfer_schema
from pretune.config import Section

__all__ = ["FewshotConfig", "FewshotSettings", "TransferSettings"]


class TransferSettings(Section):
    """What all transfer commands share: the test split and the frozen-embedding cache."""

    test_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of the corpus held out (stratified) for scoring."
    )
    cache_dir: str | None = Field(
        None,
        description="Folder caching frozen embeddings, keyed by model+max_length+texts "
        "(null: <output_dir>/.embeddings).",
    )
    embed_batch_size: int = Field(32, ge=1, description="Texts per forward pass when embedding.")


class FewshotSettings(TransferSettings):
    """Few-shot text classification from `shots` labelled examples per class."""

    method: Literal["setfit", "protonet", "logreg"] = Field(
        "setfit",
        description="setfit: contrastive tuning of the body + logistic head; protonet: nearest "
        "class mean; logreg: logistic regression on frozen embeddings (the baseline).",
    )
    shots: int = Field(8, ge=1, description="Labelled examples per class in each draw.")
    draws: int = Field(5, ge=1, description="Random draws of the shots (seeded), averaged.")
    pairs_per_example: int = Field(
        20,
        ge=1,
        description="setfit: positive partners per example (as many negatives); pairs grow "
        "linearly with the shots, never as n².",
    )
    contrastive_loss: Literal["cosine", "contrastive"] = Field(
        "cosine", description="setfit: MSE on cosine similarity, or a margin contrastive loss."
    )
    distance: Literal["cosine", "euclidean"] = Field(
        "cosine", description="protonet: distance to the class prototypes."
    )
    protonet_episodes: int = Field(
        0,
        ge=0,
        description="protonet: episodes of ProtoNet training of a projection head on the shots "
        "themselves (half support, half query; 0: plain class means of frozen embeddings).",
    )
    logreg_c: float = Field(
        1.0, gt=0, description="Inverse regularisation of the logistic head (sklearn C)."
    )
    baseline: bool = Field(
        True, description="Also score logreg on frozen embeddings on the same draws."
    )


# Only setfit trains (contrastive tuning of the body, once per draw, through the loop with the
# config's techniques); the settings sit at the top of the config (`pretune fewshot shots=8`).
FewshotConfig = transfer_schema(
    "fewshot",
    "Few-shot classification (setfit, protonet, logreg) averaged over draws.",
    FewshotSettings,
    train=TransferTrainConfig,
    techniques=True,
)
